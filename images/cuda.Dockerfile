# mtforge component image, CUDA build: GPU training, FAISS GPU mining and vLLM generation.
#
#   docker build -f images/cuda.Dockerfile -t <registry>/mtforge:<tag>-cuda .
#
# The base ships torch 2.13.0 built for CUDA 13.0 (the build vLLM's PyPI wheels link against);
# naming torch==2.13.0 in the install below keeps pip from replacing it. faiss-gpu-cu12 brings
# its own CUDA 12 runtime and cuBLAS as pip wheels (sonames .12, beside torch's .13). The node
# driver must support CUDA 13.0 (R580 or newer).
FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime

ARG MTFORGE_VERSION=0.1.0
# The commit the image was built from (docker build --build-arg MTFORGE_GIT_COMMIT=$(git rev-parse HEAD));
# MLflow runs logged from the image carry it as mlflow.source.git.commit.
ARG MTFORGE_GIT_COMMIT=""
LABEL org.opencontainers.image.title="mtforge" \
      org.opencontainers.image.description="mtforge KFP component image (CUDA): a Kubeflow-native factory for multilingual MT models" \
      org.opencontainers.image.version="${MTFORGE_VERSION}-cuda" \
      org.opencontainers.image.source="https://github.com/mtforge/mtforge" \
      ai.mtforge.accelerator="cuda"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/mtforge \
    MTFORGE_HOME=/workspace/.mtforge \
    MTFORGE_GIT_COMMIT=${MTFORGE_GIT_COMMIT}

# Same user layout as images/cpu.Dockerfile: numeric non-root UID in group 0, group-writable
# home, working directory and KFP launcher staging directories.
RUN useradd --uid 10001 --gid 0 --create-home --home-dir /home/mtforge --shell /usr/sbin/nologin mtforge \
    && mkdir -p /workspace /gcs /minio /s3 \
    && chown -R 10001:0 /home/mtforge /workspace /gcs /minio /s3 \
    && chmod -R g=u /home/mtforge /workspace /gcs /minio /s3

# Own layer: the GPU stack is large and changes far less often than the project.
RUN pip install --no-cache-dir torch==2.13.0 vllm==0.32.0 faiss-gpu-cu12==1.14.1.post1

WORKDIR /opt/mtforge/src
COPY pyproject.toml README.md ./
COPY mtforge/ mtforge/
COPY components/ components/
COPY pipelines/ pipelines/
# The project depends on faiss-cpu (CPU machines); here it is removed again and faiss-gpu-cu12
# reinstalled, since both wheels ship the same `faiss` module. The last check fails the build
# if the project's dependencies replaced the CUDA torch or left the CPU-only FAISS in place.
RUN pip install --no-cache-dir torch==2.13.0 . \
    && pip uninstall --yes faiss-cpu \
    && pip install --no-cache-dir --force-reinstall --no-deps faiss-gpu-cu12==1.14.1.post1 \
    && python -c "import torch, faiss, mtforge; assert torch.__version__.startswith('2.13.0') and torch.version.cuda, torch.__version__; assert hasattr(faiss, 'StandardGpuResources'), 'faiss without GPU support'"

WORKDIR /workspace
USER 10001
CMD ["mtforge", "--help"]
