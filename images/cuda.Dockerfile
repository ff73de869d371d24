# mtforge component image, CUDA build: GPU training, FAISS GPU mining and vLLM generation.
#
#   make images IMAGES=cuda
#   # which runs, from the repository root (the build context, see ../.dockerignore):
#   docker build -f images/cuda.Dockerfile -t <registry>/mtforge:<tag>-cuda \
#     --build-arg MTFORGE_VERSION=<tag> --build-arg MTFORGE_GIT_COMMIT=$(git rev-parse HEAD) .
#
# The base ships torch 2.13.0 built for CUDA 13.0 (the build vLLM's PyPI wheels link against)
# with its CUDA and cuDNN libraries, in the Python environment /opt/conda; naming torch==2.13.0
# in the install below keeps pip from replacing it. faiss-gpu-cu12 brings its own CUDA 12
# runtime and cuBLAS as pip wheels (sonames .12, beside torch's .13). The node driver must
# support CUDA 13.0 (R580 or newer). Two stages:
#
#   builder  the -devel variant of the base, for its C++ compiler (fasttext is a source
#            distribution on PyPI). Its /opt/conda is the runtime variant's (pytorch builds both
#            with one Dockerfile stage), so it builds the virtualenv /opt/venv with
#            --system-site-packages on the interpreter the runtime stage has too: the venv sees
#            the base's torch and holds only what this image adds (vLLM, faiss-gpu, the
#            project's dependencies), read from pyproject.toml alone so that a code change does
#            not reinstall them; and the project itself as a wheel.
#   runtime  the -runtime variant: the CUDA runtime libraries torch needs, without nvcc, the
#            compilers and headers. It copies /opt/venv and installs the project's wheel into
#            it (no dependencies, no index), so a new commit only adds a small layer on top of
#            the unchanged venv layer. Copying the builder's whole /opt/conda instead would add
#            a second copy of torch and its CUDA libraries; a plain nvidia/cuda runtime base
#            would need a Python of its own and the same torch wheels again.

FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-devel AS builder

# `pip` and `python` are the venv's once it exists.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH

# Own layer: the GPU stack is large and changes far less often than the project.
RUN python -m venv --system-site-packages /opt/venv \
    && pip install --no-cache-dir torch==2.13.0 vllm==0.32.0 faiss-gpu-cu12==1.14.1.post1

# The project depends on faiss-cpu (for CPU machines); both wheels ship the same `faiss`
# module, so here it is left out and faiss-gpu-cu12 stays the only one.
WORKDIR /opt/mtforge/src
COPY pyproject.toml images/requirements.py ./
RUN python requirements.py pyproject.toml --exclude faiss-cpu > requirements.txt \
    && pip install --no-cache-dir torch==2.13.0 -r requirements.txt

COPY README.md ./
COPY mtforge/ mtforge/
COPY components/ components/
COPY pipelines/ pipelines/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .


FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/home/mtforge \
    MTFORGE_HOME=/workspace/.mtforge

# Same user layout as images/cpu.Dockerfile: numeric non-root UID in group 0, group-writable
# home, working directory and KFP launcher staging directories.
RUN useradd --uid 10001 --gid 0 --create-home --home-dir /home/mtforge --shell /usr/sbin/nologin mtforge \
    && mkdir -p /workspace /gcs /minio /s3 \
    && chown -R 10001:0 /home/mtforge /workspace /gcs /minio /s3 \
    && chmod -R g=u /home/mtforge /workspace /gcs /minio /s3

COPY --from=builder /opt/venv /opt/venv

# The project's wheel, mounted from the builder rather than copied (no wheel file stays in a
# layer). The check fails the build if the venv's dependencies replaced the base's CUDA torch
# (or copied a second torch into the venv), if the CPU-only FAISS got in, or if fasttext,
# compiled in the builder, does not load here.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --no-deps --root-user-action=ignore /wheels/*.whl \
    && python -c "import fasttext, faiss, torch, mtforge; assert torch.__version__.startswith('2.13.0') and torch.version.cuda, torch.__version__; assert not torch.__file__.startswith('/opt/venv/'), 'torch duplicated into the venv: ' + torch.__file__; assert hasattr(faiss, 'StandardGpuResources'), 'faiss without GPU support'"

# Last, so that a new commit only changes the image's metadata. The commit the image was built
# from: MLflow runs logged from the image carry it as mlflow.source.git.commit.
ARG MTFORGE_VERSION=0.1.0
ARG MTFORGE_GIT_COMMIT=""
LABEL org.opencontainers.image.title="mtforge" \
      org.opencontainers.image.description="mtforge KFP component image (CUDA): a Kubeflow-native factory for multilingual MT models" \
      org.opencontainers.image.version="${MTFORGE_VERSION}-cuda" \
      org.opencontainers.image.revision="${MTFORGE_GIT_COMMIT}" \
      org.opencontainers.image.source="https://github.com/mtforge/mtforge" \
      ai.mtforge.accelerator="cuda"
ENV MTFORGE_GIT_COMMIT=${MTFORGE_GIT_COMMIT}

WORKDIR /workspace
USER 10001
CMD ["mtforge", "--help"]
