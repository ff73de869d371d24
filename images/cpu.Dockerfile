# mtforge component image, CPU build.
#
#   make images IMAGES=cpu
#   # which runs, from the repository root (the build context, see ../.dockerignore):
#   docker build -f images/cpu.Dockerfile -t <registry>/mtforge:<tag>-cpu \
#     --build-arg MTFORGE_VERSION=<tag> --build-arg MTFORGE_GIT_COMMIT=$(git rev-parse HEAD) .
#
# Every KFP component of the project runs in this image (see images/README.md). Two stages:
#
#   builder  python:3.11-bookworm, the full Debian image: it has the C++ compiler fasttext
#            needs (PyPI ships it as a source distribution only). It builds the virtualenv
#            /opt/venv: CPU torch first, from the PyTorch CPU wheel index, so no later resolver
#            step can pull a CUDA build (the project declares no torch dependency for the same
#            reason); then the project's pinned dependencies, read from pyproject.toml alone so
#            that a code change does not reinstall them; and the project itself as a wheel.
#   runtime  python:3.11-slim-bookworm, the same CPython under /usr/local without compilers,
#            headers, pip caches or build trees: it copies /opt/venv and installs the project's
#            wheel into it (no dependencies, no index), so a new commit only adds a small layer
#            (the wheel is about half a megabyte) on top of the unchanged venv layer. The venv
#            keeps its own pip: MLflow's model logging may run `python -m pip`.

FROM python:3.11-bookworm AS builder

# `pip` and `python` are the venv's once it exists.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH

# Own layer: the CPU torch wheel is large and changes far less often than anything else.
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /opt/mtforge/src
COPY pyproject.toml images/requirements.py ./
RUN python requirements.py pyproject.toml > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

COPY README.md ./
COPY mtforge/ mtforge/
COPY components/ components/
COPY pipelines/ pipelines/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .


FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/home/mtforge \
    MTFORGE_HOME=/workspace/.mtforge

# A fixed numeric UID (Kubernetes' runAsNonRoot can only verify a numeric USER) in group 0,
# with group-writable directories, so the image also runs under an arbitrary UID (OpenShift).
# /gcs, /minio and /s3 are where the KFP v2 launcher stages artifacts; pre-creating them lets
# a non-root task write there on backends that do not mount emptyDirs over them.
RUN useradd --uid 10001 --gid 0 --create-home --home-dir /home/mtforge --shell /usr/sbin/nologin mtforge \
    && mkdir -p /workspace /gcs /minio /s3 \
    && chown -R 10001:0 /home/mtforge /workspace /gcs /minio /s3 \
    && chmod -R g=u /home/mtforge /workspace /gcs /minio /s3

COPY --from=builder /opt/venv /opt/venv

# The project's wheel, mounted from the builder rather than copied (no wheel file stays in a
# layer). The check fails the build if anything replaced the CPU torch with a CUDA one, or if
# fasttext, compiled in the builder, does not load here.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --no-deps --root-user-action=ignore /wheels/*.whl \
    && python -c "import fasttext, torch, mtforge; assert torch.__version__.startswith('2.13.0') and torch.version.cuda is None, torch.__version__"

# Last, so that a new commit only changes the image's metadata. The commit the image was built
# from: MLflow runs logged from the image carry it as mlflow.source.git.commit.
ARG MTFORGE_VERSION=0.1.0
ARG MTFORGE_GIT_COMMIT=""
LABEL org.opencontainers.image.title="mtforge" \
      org.opencontainers.image.description="mtforge KFP component image (CPU): a Kubeflow-native factory for multilingual MT models" \
      org.opencontainers.image.version="${MTFORGE_VERSION}-cpu" \
      org.opencontainers.image.revision="${MTFORGE_GIT_COMMIT}" \
      org.opencontainers.image.source="https://github.com/mtforge/mtforge" \
      ai.mtforge.accelerator="cpu"
ENV MTFORGE_GIT_COMMIT=${MTFORGE_GIT_COMMIT}

WORKDIR /workspace
USER 10001
CMD ["mtforge", "--help"]
