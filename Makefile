# mmloss-plugin developer entry points.
#
#   make demo      install (first time 20-30 min, then seconds) and run the demo
#   make test      install, lint (ruff) and run the test suite
#
# The environment lives in $(VENV) (default .venv); scripts/install.sh creates it and is
# idempotent: it returns immediately when nothing changed since the last install.

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
PYTEST_TIMEOUT ?= 600
DEMO_DIR ?= work_dirs/demo
SMOKE_DIR ?= work_dirs/smoke
DEMO_ARGS ?=

export VENV

.DEFAULT_GOAL := help
.PHONY: help install lint test demo smoke clean

help:
	@echo "make demo     - CE vs LMF (ResNet) and CE vs CE+Dice (UNet) on the demo data, ~10 min on"
	@echo "                CPU: table + plots in $(DEMO_DIR) (installs the environment if needed)"
	@echo "make test     - install + ruff check + pytest (PYTEST_ARGS='-k name' to filter)"
	@echo "make install  - create/refresh $(VENV) with the pinned stack (idempotent)"
	@echo "make lint     - ruff check"
	@echo "make smoke    - 20-iteration classification + segmentation training on generated data"
	@echo "make clean    - remove work_dirs/demo, work_dirs/smoke and caches (keeps $(VENV))"

install:
	@bash scripts/install.sh

lint: install
	$(VENV)/bin/ruff check .

# Per-test timeout (pytest-timeout) so that a hung test cannot stall CI.
# pytest exit status 5 ("no tests collected") is an error like any other non-zero status.
test: install lint
	@$(PY) -m pytest -v --timeout $(PYTEST_TIMEOUT) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

# Generates data/demo_cls and data/demo_seg if missing, trains the four demo runs (2 at a
# time, 1 thread each), prints the comparison table and writes plots + summary.md.
# DEMO_ARGS='--jobs 1 --verbose' for mmengine's own log lines, '--quick' for a pipeline check.
demo: install
	$(PY) tools/demo.py --out $(DEMO_DIR) $(DEMO_ARGS)

smoke: install
	$(PY) -m mmloss_plugin.engine.smoke $(SMOKE_DIR)
	$(PY) tools/train.py $(SMOKE_DIR)/cls/config.py --work-dir $(SMOKE_DIR)/cls
	$(PY) tools/train.py $(SMOKE_DIR)/seg/config.py --work-dir $(SMOKE_DIR)/seg
	@echo "smoke training done: checkpoints in $(SMOKE_DIR)/cls and $(SMOKE_DIR)/seg"

clean:
	rm -rf $(DEMO_DIR) $(SMOKE_DIR) .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
