# The two entry points of the README. Both build .venv from nothing on a machine with Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo needs busflow and its pinned dependencies only; the tests add the other two Keras
# backends, ONNX, the linters and pytest (the `test` extra).
DEMO_STAMP := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: demo test test-fast report lint slurm-up slurm-down bench clean

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP) $(DEMO_STAMP)

## make demo: set up and run the whole workflow on the embedded (generated) demo data
demo: $(DEMO_STAMP)
	$(BIN)/snakemake --cores $(CORES)
	@echo "Comparison table: results/comparison.md"

## make test: set up and run every test; the SLURM tests run when a local cluster can start. Two
## pytest-xdist workers fill each other's idle time (SLURM queues, process start-up); the scheduler
## that keeps shared runs on one worker is in tests/conftest.py
test: $(STAMP)
	bash tests/slurm/cluster.sh start || echo "SLURM cluster could not start: SLURM tests will say so"
	bash tests/install_chromium.sh || echo "Chromium could not be installed: the report test will say so"
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -n 2 --durations=25

## make report [DIR=runs/x] [CONFIG="a.yaml b.yaml"]: Snakemake's HTML report (tables, figures,
## Score-CAM maps) of the run in DIR (default: this folder), made with the config files CONFIG
report: $(DEMO_STAMP)
	$(BIN)/snakemake $(if $(DIR),--directory $(DIR)) $(if $(CONFIG),--configfile $(CONFIG)) \
		--report results/report.html
	@echo "Report: $(if $(DIR),$(DIR)/)results/report.html"

## make test-fast: unit tests only (no snakemake end-to-end, no SLURM)
test-fast: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -m "not workflow and not slurm"

## make lint: Snakemake's linter, snakefmt, and ruff (format check and lint; lines of at most 100)
lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

slurm-up:
	bash tests/slurm/cluster.sh start

slurm-down:
	bash tests/slurm/cluster.sh stop

bench: $(STAMP)
	$(BIN)/python bench/augment_throughput.py

clean:
	rm -rf results resources .snakemake
