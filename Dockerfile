# One image for the API and the worker; CPU torch; dependencies pinned by constraints.txt.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ARTIFACTS_ROOT=/data/artifacts CORPUS_ROOT=/data/corpus
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY server/model_trainer server/model_trainer
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt .
RUN useradd --create-home trainer && mkdir -p /data/artifacts /data/corpus \
    && chown -R trainer /data
USER trainer
EXPOSE 8000
CMD ["model-trainer", "api", "--host", "0.0.0.0", "--port", "8000"]
