# The whole set-up on a fresh machine is these two commands:
#   make run    create the environment if needed and run MindPulse on its embedded default
#   make test   create/update the environment if needed and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mindpulse-installed

.PHONY: run test

run: $(STAMP)
	@$(VENV)/bin/mindpulse platform run

# The suite lets Python cache bytecode even where PYTHONDONTWRITEBYTECODE is set: otherwise each
# xdist worker rewrites pytest's ~250 test and plugin modules again (~3 s before its first test) and
# each of the suite's few hundred Python processes (Airflow tasks, kernels, CLI calls, servers)
# compiles the project's own modules again. The caches are __pycache__ folders, ignored by git.
# Three workers on two cores: the suite waits part of its time on its subprocesses (Airflow,
# kernels, Chromium), and a third worker fills those waits (benchmarks/README.md, "The test suite").
test: $(STAMP)
	@bash scripts/system-deps.sh
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest --numprocesses 3 --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Reinstall when the dependencies or their lock change. uv resolves in seconds; the lock
# (requirements.lock, `uv pip compile`) pins every transitive version that is known to work.
# Bytecode is compiled at install: every notebook kernel and Airflow task is a new interpreter, and
# where PYTHONDONTWRITEBYTECODE is set nothing would ever be cached, so each would recompile pandas,
# scikit-learn and Evidently from source.
# requirements.exclude names what is left out although a dependency asks for it (and why); an
# environment made before it named a package loses that package here.
$(STAMP): pyproject.toml requirements.lock requirements.exclude
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv>=0.13,<1"
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode --constraint requirements.lock \
		--excludes requirements.exclude --editable ".[test]"
	@$(VENV)/bin/uv pip uninstall --quiet --python $(PY) --requirement requirements.exclude  # left by an older install
	@touch $(STAMP)
