# syntax=docker/dockerfile:1
# One image for the API, the workers and the Discord bot (docker-compose.yml picks the command).
# Three stages, so the runtime image holds the venv and nothing that built it:
#   ui       Node builds the dashboard (ui/dist)
#   builder  a venv with CPU-only torch and the package, which ships that build inside it
#   runtime  python:3.11-slim, the venv, a non-root user; no compilers, npm or sources

FROM node:20-slim AS ui
WORKDIR /src/ui
# The lock alone first: the npm layer is reused until the dependencies change.
COPY ui/package.json ui/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
# All of ui/: `npm run build` type-checks every tsconfig project (tests included) first.
COPY ui/ ./
RUN npm run build

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# torch alone from PyTorch's CPU index (no CUDA wheels, GBs smaller), in a layer of its own so
# source changes do not fetch it again. `==2.13.0` in constraints.txt accepts `2.13.0+cpu`,
# so the install below keeps it and takes torch's own dependencies from PyPI, pinned.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /src
COPY pyproject.toml setup.py constraints.txt README.md ./
COPY server/model_trainer server/model_trainer
# setup.py's build step copies a ready ui/dist into the wheel as model_trainer/ui_dist, so no
# npm is needed here (without ui/dist/index.html it would try npm and fail).
COPY --from=ui /src/ui/dist ui/dist
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -c constraints.txt . && pip check

FROM python:3.11-slim AS runtime
# The user's ids are build arguments: on Linux, files the containers write to the bind-mounted
# artifacts folder belong to the user whose ids these are (compose passes MT_UID/MT_GID).
ARG APP_UID=1000
ARG APP_GID=1000
# --non-unique: a host's ids may already name a user or group of the base image (gid 100).
RUN groupadd --non-unique --gid "$APP_GID" trainer \
    && useradd --non-unique --uid "$APP_UID" --gid "$APP_GID" --create-home \
        --shell /usr/sbin/nologin trainer \
    && mkdir -p /data/corpus /data/models /data/artifacts /data/hf-cache \
    && chown trainer:trainer /data/artifacts /data/hf-cache
COPY --from=builder /opt/venv /opt/venv
# HF_HOME: a named volume in compose keeps Hugging Face downloads across containers.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ARTIFACTS_ROOT=/data/artifacts \
    CORPUS_ROOT=/data/corpus \
    MODELS_ROOT=/data/models \
    HF_HOME=/data/hf-cache
# An empty working directory: the settings read a `.env` from here, and none is ever baked in.
WORKDIR /app
USER ${APP_UID}:${APP_GID}
EXPOSE 8000
# For the default command (the API); compose gives the worker and bot checks of their own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["model-trainer", "api", "--host", "0.0.0.0", "--port", "8000"]
