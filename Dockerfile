# The platform image: collector, dashboard, batch ETL (dbt), topic sync, quality jobs and the
# Spark stream (driver and executors) run from it with different commands (see infra/workloads.py
# and infra/streaming.py). Built by CI from the commit and pushed to ECR with the git SHA as tag
# (.github/workflows/deploy.yml); the stack takes the tag from `artifacts.imageTag`.

FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY pipelines/dashboard/web/package.json pipelines/dashboard/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY pipelines/dashboard/web/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
# Java for Spark (pyspark runs the JVM in the driver and executors)
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv==0.9.*
WORKDIR /app
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-default-groups --group pipelines --no-install-project
COPY schemas/ schemas/
COPY pipelines/ pipelines/
COPY infra/__init__.py infra/__init__.py
COPY stacks/__init__.py stacks/__init__.py
COPY policies/ policies/
COPY dbt/ dbt/
COPY --from=web /src/dist/ pipelines/dashboard/web/dist/
RUN uv sync --frozen --no-default-groups --group pipelines
ENV PATH=/app/.venv/bin:$PATH PYSPARK_PYTHON=/app/.venv/bin/python AA_SCHEMAS_DIR=/app/schemas
RUN useradd --uid 10001 --create-home app && chown -R app /app
USER 10001
CMD ["python", "-m", "pipelines.collector"]
