# syntax=docker/dockerfile:1
# Targets: `api` (no torch: FastAPI + dashboard) and `worker` (CUDA torch wheels from PyPI).
# Build: docker build --target api -t alp-api .   /   docker build --target worker -t alp-worker .

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 ALP_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY alp alp
COPY api api
COPY worker worker
COPY models models
COPY acquisition acquisition
COPY simulation simulation
COPY migrations migrations
VOLUME ["/data"]

FROM base AS api
# The API never imports torch: install the package without its dependencies, then only the
# `api` extra of pyproject.toml (the one list; tests/unit/test_packaging.py checks it).
RUN pip install --no-deps -e . \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['api']))" > /tmp/api-requirements.txt \
 && pip install -r /tmp/api-requirements.txt
EXPOSE 8000
CMD ["sh", "-c", "alp migrate && alp up --host 0.0.0.0 --port 8000 --no-worker"]

FROM base AS worker
RUN pip install -e .
CMD ["alp", "worker", "--queues", "gpu", "--concurrency", "1"]
