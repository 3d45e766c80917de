# NIMA Lab. Every target sets up what it needs: `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3.11
# Inside an activated conda environment (other than base) the targets install into it, not into .venv;
# `make VENV=.venv` (or any folder) overrides.
CONDA_ENV := $(if $(filter-out base,$(CONDA_DEFAULT_ENV)),$(CONDA_PREFIX))
VENV   ?= $(or $(CONDA_ENV),.venv)
EXTRAS ?= cpu,dev,track,ray
comma  := ,
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup test test-fast lint demo weights score serve lab mlflow bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; run 'make PYTHON=python3' or install Python 3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

lint: setup
	$(BIN)/ruff check .

test: setup lint
	$(BIN)/pytest --nbval-lax --durations=20 tests notebooks

# The inner loop: lint and every test but the notebook, browser and slowest ones (markers in pyproject.toml)
test-fast: setup lint
	$(BIN)/pytest -m "not notebook and not browser and not slow" tests

weights: setup
	$(BIN)/nima weights

demo: setup
	$(BIN)/nima pipeline configs/demo.yaml

# `make score IMAGES="photo.jpg folder/"`: scores on stdout as CSV, with the newest weights in weights/
score: setup
	@test -n "$(IMAGES)" || { echo 'make score: name the photos, e.g. make score IMAGES="photo.jpg folder/"'; exit 2; }
	$(BIN)/nima score $(IMAGES)

# `make serve` (PORT=8000): the web page and API on http://127.0.0.1:$(PORT)/
PORT ?= 8000
serve: setup
	$(BIN)/nima serve --port $(PORT)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

mlflow: setup
	$(BIN)/python -m nima_utils.tracking ui

bench: setup
	$(BIN)/python benchmarks/score_throughput.py
	$(BIN)/python benchmarks/ray_throughput.py
	$(BIN)/python benchmarks/service_throughput.py
	$(BIN)/python benchmarks/data_throughput.py
	$(BIN)/python benchmarks/ava_scale.py --sizes 2000,8000,32000
	$(BIN)/python benchmarks/train_throughput.py
	@# JAX on a CPU trains about 8x slower than TensorFlow: fewer steps keep this line to a few minutes
	KERAS_BACKEND=jax $(BIN)/python benchmarks/train_throughput.py --synthetic --steps 2 --warmup 2 --rounds 2

clean:
	$(if $(filter $(CONDA_PREFIX),$(abspath $(VENV)) $(VENV)),@echo "make clean: keeping the conda environment $(VENV)",rm -rf $(VENV))
	rm -rf .pytest_cache .ruff_cache
