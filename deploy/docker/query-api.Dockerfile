# The query-api: the HTTP API, the pages, and configuration writes.
# Build from the repository root: docker build -f deploy/docker/query-api.Dockerfile .
# Every service image is built the same way (see dispatcher.Dockerfile for the reasons); only the
# command, the port and the health check differ.

FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
# Editable installs (uv's default) keep /app/shared on the import path, which matters: the store
# finds deploy/clickhouse/*.sql relative to its own source file.
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Third-party packages first, from the lock file only: this layer is rebuilt when uv.lock changes,
# not on every source edit. uv needs every workspace member's pyproject.toml to read the lock.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY cli/pyproject.toml cli/
COPY services/dispatcher/pyproject.toml services/dispatcher/
COPY services/log-writer/pyproject.toml services/log-writer/
COPY services/query-api/pyproject.toml services/query-api/
# The `postbacks` command lives in postbacks-cli, which depends on every service package, so the
# member installed is the CLI; --no-dev leaves out the test and lint tools.
RUN uv sync --frozen --no-dev --package postbacks-cli --no-install-workspace
COPY shared shared
COPY cli cli
COPY services services
COPY deploy/clickhouse deploy/clickhouse
RUN uv sync --frozen --no-dev --package postbacks-cli

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin postbacks \
    && install -d -o postbacks -g postbacks /data
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 \
    POSTBACKS_DATA_DIR=/data POSTBACKS_OPS_HOST=0.0.0.0 POSTBACKS_API_PORT=8080 POSTBACKS_API_HOST=0.0.0.0
USER postbacks
WORKDIR /app
EXPOSE 8080
# /healthz answers while the process serves; /readyz (broker and store connected) is for the
# orchestrator's readiness, not for restarting the container.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['POSTBACKS_API_PORT'], timeout=2)"]
# SIGTERM reaches `postbacks` directly (exec form, PID 1): it cancels the service, which
# commits what it has stored and leaves its consumer group before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["postbacks"]
CMD ["query-api"]
