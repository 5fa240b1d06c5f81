# Two commands on a fresh machine: `make run` and `make test`. Everything else is installed here:
# uv (pinned, into .tools/), then the locked environment into .venv/.
# `make check` (before a commit): lint and the tests that start no broker, chDB or process, < 2 min.

UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test check lint format env clean bench browser-deps prometheus-deps stunnel-deps generated

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

test: lint browser-deps prometheus-deps stunnel-deps
	$(VENV)/bin/pytest

# The quick tier: every test without the real_parts marker (tests/tiers.py sets it on the tests
# that start the embedded broker, chDB or another process). `make test` runs them all (CI).
check: lint
	$(VENV)/bin/pytest -m "not real_parts"

# Debian's chromium for tests/browser (Playwright drives it; it never downloads a browser).
# Installed when missing and we are root with apt-get; otherwise the browser tests skip and
# name what is missing. CHROMIUM=/path/to/chromium points the tests at another binary.
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
browser-deps:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for tests/browser"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
			|| echo "chromium could not be installed: tests/browser will be skipped"; \
	else \
		echo "$(CHROMIUM) is missing and cannot be installed here (needs root and apt-get):" \
			"tests/browser will be skipped"; \
	fi

# Debian's prometheus package for promtool, which tests/deploy/test_alert_rules.py runs on
# deploy/prometheus/ (the rules, the configuration and the rules' unit tests). Installed when
# missing and we are root with apt-get, without starting the daemon the package brings (a
# policy-rc.d that refuses service starts, removed again unless it was already there);
# otherwise those tests skip and name what is missing.
PROMTOOL ?= promtool
export PROMTOOL
prometheus-deps:
	@if command -v "$(PROMTOOL)" >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's prometheus (for promtool) for tests/deploy/test_alert_rules.py"; \
		if [ -e /usr/sbin/policy-rc.d ]; then own=; else \
			own=1; printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends prometheus \
			|| echo "prometheus could not be installed: the promtool tests will be skipped"; \
		if [ -n "$$own" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	else \
		echo "$(PROMTOOL) is missing and cannot be installed here (needs root and apt-get):" \
			"the promtool tests of tests/deploy/test_alert_rules.py will be skipped"; \
	fi

# Debian's stunnel4 for tests/e2e/test_secured_kafka.py: the TLS proxy in front of the embedded
# broker (Tansu 0.6 does not complete a TLS handshake itself), with and without client
# certificates. Installed when missing and we are root with apt-get; otherwise those tests skip
# and name what is missing. STUNNEL=/path/to/stunnel points the tests at another binary.
STUNNEL ?= stunnel4
export STUNNEL
stunnel-deps:
	@if command -v "$(STUNNEL)" >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's stunnel4 for tests/e2e/test_secured_kafka.py"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends stunnel4 \
			|| echo "stunnel4 could not be installed: the Kafka TLS tests will be skipped"; \
	else \
		echo "$(STUNNEL) is missing and cannot be installed here (needs root and apt-get):" \
			"the Kafka TLS tests of tests/e2e/test_secured_kafka.py will be skipped"; \
	fi

# The files generated from the code, which tests/deploy checks are current: the AsyncAPI and
# OpenAPI documents (docs/), what the attempt record's table derives (attempt_codegen) and the
# cluster DDL (deploy/clickhouse-cluster/).
generated: env
	$(PY) -m postbacks_cli.api_docs
	$(PY) -m postbacks_cli.attempt_codegen
	$(PY) deploy/clickhouse-cluster/cluster_ddl.py

format: env
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every benchmark scenario (bench/README.md); `make bench BENCH_ROWS=1000000` for a quick run,
# BENCH_ARGS for any other option of `python -m bench --help`. The delivery scenario needs nginx
# (the receiver) and wrk (its ceiling) from Debian: installed here when missing.
bench: env
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx && command -v wrk >/dev/null || \
		(apt-get update && apt-get install -y nginx wrk)
	$(PY) -m bench $(if $(BENCH_ROWS),--rows $(BENCH_ROWS)) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tools .postbacks .mypy_cache .ruff_cache .pytest_cache
