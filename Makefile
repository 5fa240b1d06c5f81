# Two commands on a fresh machine: `make run` and `make test`. Everything else is installed here:
# uv (pinned, into .tools/), then the locked environment into .venv/.

UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint format env clean bench

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --python 3.11
	touch $@

env: $(VENV)/.synced

run: env
	$(VENV)/bin/postbacks dev

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

test: lint
	$(VENV)/bin/pytest

format: env
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every benchmark scenario (bench/README.md); `make bench BENCH_ROWS=1000000` for a quick run,
# BENCH_ARGS for any other option of `python -m bench --help`.
bench: env
	$(PY) -m bench $(if $(BENCH_ROWS),--rows $(BENCH_ROWS)) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tools .postbacks .mypy_cache .ruff_cache .pytest_cache
