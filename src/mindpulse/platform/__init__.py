"""The platform on its embedded default (``mindpulse platform run``): its home, its programs, their supervision.

:mod:`~mindpulse.platform.home` prepares the home, :mod:`~mindpulse.platform.components` says how
each program is started, :mod:`~mindpulse.platform.supervisor` starts, watches and stops them;
:mod:`mindpulse.commands.platform` is the command line that runs the start-up sequence.
"""
