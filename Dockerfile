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
COPY migrations migrations
VOLUME ["/data"]

FROM base AS api
# The API never imports torch: install the package without its heavy dependencies, then the
# service dependencies only.
RUN pip install --no-deps -e . && pip install \
    "fastapi>=0.110" "uvicorn[standard]>=0.29" "python-multipart>=0.0.9" "sqlalchemy>=2.0.30" \
    "alembic>=1.13" "pydantic>=2.6" "pydantic-settings>=2.2" "celery[redis,sqlalchemy]>=5.4" \
    "redis>=5" "psycopg[binary]>=3.1" "pillow>=10.3" "typer>=0.12" "rich>=13" "jinja2>=3.1" \
    "httpx>=0.27" "prometheus-client>=0.20" "label-studio-sdk>=2.0"
EXPOSE 8000
CMD ["sh", "-c", "alp migrate && alp up --host 0.0.0.0 --port 8000 --no-worker"]

FROM base AS worker
RUN pip install -e .
CMD ["alp", "worker", "--queues", "gpu", "--concurrency", "1"]
