# switchio-lab developer tasks. Everything runs inside ./.venv; nothing is installed globally.
#
#   make lab     set up .venv and start JupyterLab on notebooks/
#   make test    set up .venv, run ruff and the whole test suite (incl. notebooks)
#   make bench   run every bench/*.py script and print its figures
#   make docs    build the Sphinx docs (warnings are errors) into docs/_build/html
#   make clean   remove build/test artefacts (keeps .venv); `make distclean` also removes .venv
#
# Works non-interactively (CI=true, no stdin).

PYTHON   ?= python3
VENV     ?= .venv
VENV_PY  := $(VENV)/bin/python
PIP      := $(VENV_PY) -m pip
PIP_OPTS ?= --progress-bar off

# JupyterLab: bound to loopback unless you say otherwise, e.g.
#   make lab LAB_IP=0.0.0.0 LAB_ARGS="--port=9999 --no-browser"
LAB_IP   ?= 127.0.0.1
LAB_ARGS ?=
# Jupyter refuses to run as root without --allow-root (containers, CI, this lab's machines).
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

# Extra arguments for pytest / sphinx-build, e.g. make test PYTEST_ARGS="-k parser -x"
PYTEST_ARGS ?=
SPHINXOPTS  ?= -W --keep-going

export PIP_NO_INPUT := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export JUPYTER_PLATFORM_DIRS := 1

# One stamp per set of extras; each is redone whenever pyproject.toml is newer than it.
STAMP_DEV   := $(VENV)/.installed-test-lab
STAMP_DOCS  := $(VENV)/.installed-docs
STAMP_BENCH := $(VENV)/.installed-bench

BENCH_SCRIPTS := $(sort $(wildcard bench/*.py))

.DEFAULT_GOAL := help
# pip installs into one venv must not run concurrently under make -j.
.NOTPARALLEL:
.PHONY: help venv install test lint lab bench docs clean distclean

help:
	@echo "make lab       set up .venv and start JupyterLab on notebooks/ (LAB_IP=$(LAB_IP), LAB_ARGS=...)"
	@echo "make test      set up .venv, ruff check, pytest tests + notebooks (nbmake)"
	@echo "make bench     run every bench/*.py with the venv python"
	@echo "make docs      sphinx-build $(SPHINXOPTS) -b html docs docs/_build/html"
	@echo "make install   pip install -e '.[test,lab,quality]' into .venv (only when pyproject.toml changed)"
	@echo "make venv      create .venv with $(PYTHON) -m venv"
	@echo "make clean     remove build/test artefacts; make distclean also removes .venv"

# --- environment -------------------------------------------------------------

venv: $(VENV_PY)

$(VENV_PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "switchio-lab needs Python >= 3.10, $(PYTHON) is " + sys.version.split()[0])'
	@echo ">>> creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_OPTS) --upgrade pip

install: $(STAMP_DEV)

$(STAMP_DEV): pyproject.toml | $(VENV_PY)
	@echo ">>> installing switchio-lab (editable) with extras [test,lab,quality] into $(VENV)"
	$(PIP) install $(PIP_OPTS) -e '.[test,lab,quality]'
	@touch $@

$(STAMP_DOCS): pyproject.toml | $(VENV_PY)
	@echo ">>> installing switchio-lab (editable) with extras [docs] into $(VENV)"
	$(PIP) install $(PIP_OPTS) -e '.[docs]'
	@touch $@

$(STAMP_BENCH): pyproject.toml | $(VENV_PY)
	@echo ">>> installing switchio-lab (editable) with extras [bench] into $(VENV)"
	$(PIP) install $(PIP_OPTS) -e '.[bench]'
	@touch $@

# --- tasks -------------------------------------------------------------------

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest tests notebooks --nbmake $(PYTEST_ARGS)

lab: install
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks --ip=$(LAB_IP) $(LAB_ROOT) $(LAB_ARGS)

bench: install $(STAMP_BENCH)
ifeq ($(strip $(BENCH_SCRIPTS)),)
	@echo ">>> no bench/*.py scripts yet"
else
	@set -e; for script in $(BENCH_SCRIPTS); do \
		echo ">>> $(VENV_PY) $$script"; \
		$(VENV_PY) $$script; \
		echo; \
	done
endif

docs: $(STAMP_DEV) $(STAMP_DOCS)  # autodoc imports the lab extras (pandas, bokeh)
	$(VENV)/bin/sphinx-build $(SPHINXOPTS) -b html docs docs/_build/html
	@echo ">>> docs built: docs/_build/html/index.html"

clean:
	rm -rf docs/_build build dist test-artifacts bench/results runs \
		.pytest_cache .ruff_cache .hypothesis
	find . \( -path ./.git -o -path ./$(VENV) \) -prune -o \( -name __pycache__ -o -name '*.egg-info' -o -name .ipynb_checkpoints \) \
		-prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
