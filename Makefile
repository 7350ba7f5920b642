# mmloss-plugin developer entry points.
#
#   make demo      install (first time ~20 min, then seconds) and run the demo
#   make test      install, lint (ruff) and run the test suite
#
# The environment lives in $(VENV) (default .venv); scripts/install.sh creates it and is
# idempotent: it returns immediately when nothing changed since the last install.

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
PYTEST_TIMEOUT ?= 600
DEMO_DIR ?= work_dirs/demo

export VENV

.DEFAULT_GOAL := help
.PHONY: help install lint test demo smoke clean

help:
	@echo "make demo     - short demo training (installs the environment first if needed)"
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

# Until the real demo lands, the demo is the smoke training below.
demo: smoke

smoke: install
	$(PY) -m mmloss_plugin.engine.smoke $(DEMO_DIR)
	$(PY) tools/train.py $(DEMO_DIR)/cls/config.py --work-dir $(DEMO_DIR)/cls
	$(PY) tools/train.py $(DEMO_DIR)/seg/config.py --work-dir $(DEMO_DIR)/seg
	@echo "smoke training done: checkpoints in $(DEMO_DIR)/cls and $(DEMO_DIR)/seg"

clean:
	rm -rf $(DEMO_DIR) work_dirs/smoke .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
