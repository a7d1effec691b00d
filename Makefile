# Two commands for a new user: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export TF_USE_LEGACY_KERAS := 0
export TF_CPP_MIN_LOG_LEVEL := 2
DEMO_DIR ?= demo_run
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast test-slow bench lock clean

$(VENV)/.stamp: uv.lock pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

setup: $(VENV)/.stamp

## demo: demo data -> labelled examples -> TFX pipeline -> pushed model -> report
## (one line per stage; the full log is in $(DEMO_DIR)/logs/, VERBOSE=1 shows it all)
demo: setup
	$(VENV)/bin/cfan demo --workdir $(DEMO_DIR) $(if $(VERBOSE),--verbose)

## test: fast suite, then the slow (end-to-end) suite
test: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests selected"; rc=0; fi; exit $$rc

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

## bench: every benchmark at its default size (~25 min on 2 cores) -> docs/benchmarks.md,
## then the model-quality grid at 300 users x 2,000 images (~2 h) -> docs/model_quality.md
bench: setup
	$(PY) -m benchmarks.run_all

## lock: re-resolve the stack (maintainers only; commit uv.lock)
lock:
	uv lock --python 3.10

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
