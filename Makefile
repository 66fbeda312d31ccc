# aebnas: `make test` sets everything up (virtual env, PyTorch, Fashion-MNIST) and runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FMNIST_DEB := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

# make surrogate-data variables
DATASET ?= fashion-mnist
SPACE ?= aebnas-plus
N ?= 300
SEED ?= 0
CONFIG ?= configs/fashion-mnist.yaml
WORKERS ?= 2
# local (processes) or ray (a local Ray, or RAY_ADDRESS's cluster): aebnas/execution/
EXECUTOR ?= local
# make predictors: fit these models on the archive of DATASET/SPACE at FIDELITY
# (low: 1 epoch from scratch; supernet: inherited from the early-exit supernet)
MODELS ?= gp xgb
FIDELITY ?= low
# cross-validation folds scored into each predictor's metadata (0: none, faster)
CV_FOLDS ?= 5
ARCHIVE ?= data/surrogates/$(DATASET)-$(SPACE)-$(FIDELITY).jsonl
# make search: inherited low fidelity + fine-tuned full fidelity; from scratch:
# SEARCH_CONFIG=configs/fashion-mnist.yaml
SEARCH_CONFIG ?= configs/fashion-mnist-supernet.yaml

.PHONY: setup data test lint surrogate-data predictors search supernet clean

setup: $(VENV)/.installed data

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e ".[dev,ray]"
	touch $@

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package (offline); elsewhere
# torchvision's download is the fallback (see aebnas/data/sources.py).
data:
	@if [ ! -f $(FMNIST_DEB) ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian package dataset-fashion-mnist"; \
		(apt-get update -qq || true) && apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	fi

lint: setup
	$(BIN)/ruff check aebnas tests benchmarks
	$(BIN)/mypy aebnas

test: setup lint
	$(BIN)/pytest -q

surrogate-data: setup
	$(BIN)/python -m aebnas.surrogate_data --config $(CONFIG) --dataset $(DATASET) \
		--space $(SPACE) -n $(N) --seed $(SEED) --workers $(WORKERS) --executor $(EXECUTOR)

# Saved predictors (accuracy and average MACs) for reuse: predictors/<dataset>-<space>-<fidelity>/.
predictors: setup
	for model in $(MODELS); do for target in accuracy avg_macs; do \
		$(BIN)/python -m aebnas.predictors fit --data $(ARCHIVE) --model $$model \
			--target $$target --cv-folds $(CV_FOLDS) \
			--out predictors/$(DATASET)-$(SPACE)-$(FIDELITY)/$$model-$$target --force \
			|| exit 1; \
	done; done

search: setup
	$(BIN)/python -m aebnas.bo_search --config $(SEARCH_CONFIG)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The early-exit supernet of SUPERNET_CONFIG (its supernet: section) ->
# supernets/<dataset>-<space>/; killed, `make supernet RESUME=1` continues from its last checkpoint.
SUPERNET_CONFIG ?= configs/fashion-mnist-supernet.yaml
supernet: setup
	$(BIN)/python -m aebnas.supernet train --config $(SUPERNET_CONFIG) $(if $(RESUME),--resume,)
