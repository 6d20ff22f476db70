# Inference Lab. The two commands that matter:  make lab   (set up, start the stack, open JupyterLab)
#                                                make test  (set up, then run every test)
PY     := .venv/bin/python
JUPYTER_PORT ?= 8888
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)  # Jupyter refuses root without it (containers)
PYTEST ?=

.PHONY: setup lab up down status logs test test-fast lint clean-notebooks bench browser-deps

setup:                 ## create .venv with the pinned environment (idempotent)
	@tools/setup.sh

up: setup              ## start the embedded Llama Stack (reuses a running one)
	@$(PY) -m labutils.stack up

down:                  ## stop the embedded Llama Stack
	@$(PY) -m labutils.stack down

status:
	@$(PY) -m labutils.stack status

logs:
	@$(PY) -m labutils.stack logs

lab: up                ## open JupyterLab on 127.0.0.1 with the stack answering
	@$(PY) -m jupyter lab --ip=127.0.0.1 --port=$(JUPYTER_PORT) --notebook-dir=notebooks $(AS_ROOT)

browser-deps:          ## Chromium for the browser test (Debian package; no browser download)
	@tools/browser-deps.sh

test: setup browser-deps  ## every test: unit, real stack, notebooks, browser
	@$(PY) -m ruff check .
	@$(PY) -m pytest $(PYTEST)

test-fast: setup       ## unit tests only (no server)
	@$(PY) -m pytest -m "not integration and not notebooks and not browser" $(PYTEST)

lint: setup
	@$(PY) -m ruff check .

clean-notebooks: setup ## strip outputs and execution counts from the lessons
	@$(PY) tools/clean_notebooks.py notebooks/*.ipynb

bench: up              ## benchmarks: ratios measured in one run
	@$(PY) bench/stack_overhead.py
	@$(PY) bench/grid_throughput.py
