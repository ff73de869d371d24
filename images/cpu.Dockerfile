# mtforge component image, CPU build.
#
#   docker build -f images/cpu.Dockerfile -t <registry>/mtforge:<tag>-cpu .
#
# Every KFP component of the project runs in this image (see images/README.md). torch is
# installed first, from the PyTorch CPU wheel index, so no later resolver step can pull a
# CUDA build; the project itself declares no torch dependency for the same reason.
FROM python:3.11-slim-bookworm

ARG MTFORGE_VERSION=0.1.0
# The commit the image was built from (docker build --build-arg MTFORGE_GIT_COMMIT=$(git rev-parse HEAD));
# MLflow runs logged from the image carry it as mlflow.source.git.commit.
ARG MTFORGE_GIT_COMMIT=""
LABEL org.opencontainers.image.title="mtforge" \
      org.opencontainers.image.description="mtforge KFP component image (CPU): a Kubeflow-native factory for multilingual MT models" \
      org.opencontainers.image.version="${MTFORGE_VERSION}-cpu" \
      org.opencontainers.image.source="https://github.com/mtforge/mtforge" \
      ai.mtforge.accelerator="cpu"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/mtforge \
    MTFORGE_HOME=/workspace/.mtforge \
    MTFORGE_GIT_COMMIT=${MTFORGE_GIT_COMMIT}

# A fixed numeric UID (Kubernetes' runAsNonRoot can only verify a numeric USER) in group 0,
# with group-writable directories, so the image also runs under an arbitrary UID (OpenShift).
# /gcs, /minio and /s3 are where the KFP v2 launcher stages artifacts; pre-creating them lets
# a non-root task write there on backends that do not mount emptyDirs over them.
RUN useradd --uid 10001 --gid 0 --create-home --home-dir /home/mtforge --shell /usr/sbin/nologin mtforge \
    && mkdir -p /workspace /gcs /minio /s3 \
    && chown -R 10001:0 /home/mtforge /workspace /gcs /minio /s3 \
    && chmod -R g=u /home/mtforge /workspace /gcs /minio /s3

# Own layer: the CPU torch wheel is large and changes far less often than the project.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /opt/mtforge/src
COPY pyproject.toml README.md ./
COPY mtforge/ mtforge/
COPY components/ components/
COPY pipelines/ pipelines/
# The last check fails the build if anything above replaced the CPU torch with a CUDA one.
RUN pip install --no-cache-dir . \
    && python -c "import torch, mtforge; assert torch.__version__.startswith('2.13.0') and torch.version.cuda is None, torch.__version__"

WORKDIR /workspace
USER 10001
CMD ["mtforge", "--help"]
