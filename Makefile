# Inference Lab. The two commands that matter:  make lab   (set up, start the stack, open JupyterLab)
#                                                make test  (set up, then run every test)
PY     := .venv/bin/python
JUPYTER_PORT ?= 8888
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)  # Jupyter refuses root without it (containers)
PYTEST ?=

.PHONY: setup dev-deps setup-ogx model-gemma venv-deps nbgrader-deps hub-deps hub grade solutions bench-class lab up down status logs test test-ogx test-fast lint clean-notebooks bench browser-deps

setup:                 ## create .venv with the pinned environment, engine prebuilt (idempotent; LAB_ENGINE=source builds llama-server)
	@tools/setup.sh

dev-deps: setup        ## add the test and lint tools (requirements-dev.txt) to .venv
	@tools/setup.sh dev

setup-ogx:             ## create .venv-ogx with OGX 1.5, the alternative distribution (idempotent)
	@tools/setup-ogx.sh

model-gemma:           ## opt in to a second local model: Gemma 3 270M (base, Gemma Terms of Use), 253 MB
	@tools/models.sh gemma

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

test:                  ## every test: unit, real stack, notebooks, browser, OGX (three shards at once)
	@$(MAKE) --no-print-directory -j4 setup setup-ogx browser-deps nbgrader-deps venv-deps
	@tools/test.sh

venv-deps: setup nbgrader-deps  # what `make test` adds to .venv, one install at a time (setup-ogx, browser-deps
                                #   and nbgrader-deps run beside setup)
	@$(MAKE) --no-print-directory dev-deps
	@$(MAKE) --no-print-directory model-gemma
	@$(MAKE) --no-print-directory hub-deps

test-ogx: dev-deps setup-ogx  ## stack tests and lessons 00, 02, 09, 14 with OGX 1.5 in front (own ports and state)
	@set -- $$($(PY) -c 'from labutils.stack import free_ports; print(*free_ports(2))'); \
	LAB_DISTRIBUTION=ogx LAB_STACK_PORT=$$1 LAB_LLAMA_PORT=$$2 LAB_HOME=$(CURDIR)/.lab/test-ogx \
	$(PY) -m pytest tests/test_stack.py tests/test_notebooks.py::test_executes \
	  -k "not test_executes or 00_ or 02_ or 09_ or 14_" $(PYTEST)

hub-deps: setup nbgrader-deps  ## JupyterHub, node (a wheel), its proxy (.lab/node) and nbgrader (.venv-nbgrader) for teaching a class
	@tools/hub-deps.sh

nbgrader-deps:         # nbgrader's own venv (.venv-nbgrader); needs no .venv, so `make test` makes it beside setup
	@tools/hub-deps.sh nbgrader

hub: hub-deps          ## a JupyterHub for a class on this machine, shared stack included (deploy/README.md)
	@.venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

grade: setup           ## grade submissions: make grade SUBMISSIONS=folder [OUT=grades]
	@$(PY) -m labutils.grading $(SUBMISSIONS) --out $(or $(OUT),grades)

solutions: setup       ## a solved copy of every lesson in solved/ (instructor only)
	@$(PY) -m labutils.grading.solutions render --out solved

bench-class: setup     ## 30 simulated learners on one private stack, one engine per core as on a hub (~15 min)
	@$(PY) bench/class_load.py --learners 30

test-fast: dev-deps    ## unit tests only (no server)
	@$(PY) -m pytest -m "not integration and not notebooks and not browser" $(PYTEST)

lint: dev-deps
	@$(PY) -m ruff check .

clean-notebooks: setup ## strip outputs and execution counts from the lessons
	@$(PY) tools/clean_notebooks.py notebooks/*.ipynb

bench: up              ## benchmarks: ratios measured in one run
	@$(PY) bench/stack_overhead.py
	@$(PY) bench/grid_throughput.py
	@$(PY) bench/engine_load.py
	@$(PY) bench/determinism.py
	@$(PY) bench/models_load.py
