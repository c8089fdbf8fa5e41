import sys

from mindpulse.notebooks.template import main

sys.exit(main())
