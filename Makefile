# Two entry points for a fresh clone (see README): `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2
TARGET ?= all_figures

.PHONY: setup run test lint

setup:
	bash scripts/setup.sh $(VENV)

run: setup
	$(VENV)/bin/snakemake --cores $(CORES) $(TARGET)

test: setup
	$(PY) -m pytest -ra --durations=30

lint: setup
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile rules
	$(VENV)/bin/ruff check .
