"""The Prometheus alert rules (deploy/prometheus/alerts.yml): promtool accepts the rules and the
configuration that loads them, the unit tests in alerts.test.yml pass (each alert fires when it
should and stays silent on healthy series), and every metric a rule reads is one the code
defines, so renaming a metric cannot silently leave an alert watching nothing.

promtool comes with Debian's `prometheus` package: `make prometheus-deps` installs it when it is
missing and it can (root with apt-get); otherwise the promtool tests skip, saying so.
PROMTOOL=/path/to/promtool points the tests at another binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
UNIT_TESTS = PROMETHEUS / "alerts.test.yml"
# Where the services define their metrics (prometheus_client objects and custom collectors).
CODE = (ROOT / "shared", ROOT / "services")
# Series Prometheus makes itself, not the services.
PROMETHEUS_SERIES = {"up"}
# PromQL words that look like metric names in an expression.
PROMQL_WORDS = {
    "sum", "by", "without", "and", "or", "unless", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "deriv", "rate", "increase", "absent", "max", "min",
    "avg", "count", "topk", "bottomk", "histogram_quantile", "irate", "delta", "time",
}  # fmt: skip
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def _rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which(os.environ.get("PROMTOOL") or "promtool")
    if promtool is None:
        pytest.skip("promtool is missing (Debian's prometheus package): run `make prometheus-deps`")
    return subprocess.run(
        [promtool, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def _metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers outside label matchers, `by (...)`
    lists and strings, that are not PromQL words or durations."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\boffset\s+\w+", "", expr)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return names - PROMQL_WORDS


def _defined_metrics() -> set[str]:
    """Every metric-name string in the code, with and without the suffixes the client adds."""
    found: set[str] = set()
    for base in CODE:
        for path in base.rglob("*.py"):
            if ".venv" in path.parts:
                continue
            for name in re.findall(r"""["'](postbacks_[a-z0-9_]+)["']""", path.read_text()):
                found.add(name)
                for suffix in SUFFIXES:
                    found.add(name + suffix)
                    found.add(name.removesuffix(suffix))
    return found


def test_every_rule_has_a_duration_a_severity_and_what_to_check() -> None:
    rules = _rules()
    assert rules
    for rule in rules:
        name = rule["alert"]
        assert "for" in rule, name
        labels = rule.get("labels")
        assert isinstance(labels, dict), name
        assert labels.get("severity") in {"warning", "critical"}, name
        annotations = rule.get("annotations")
        assert isinstance(annotations, dict), name
        assert annotations.get("summary"), name
        assert "Check first" in str(annotations.get("description")), name


def test_every_metric_in_the_rules_is_defined_by_the_code() -> None:
    defined = _defined_metrics()
    used = {
        name: _metric_names(str(rule["expr"])) - PROMETHEUS_SERIES
        for rule in _rules()
        for name in [str(rule["alert"])]
    }
    assert any(used.values()), "no metric name read from the rules: the parser is broken"
    unknown = {alert: sorted(names - defined) for alert, names in used.items() if names - defined}
    assert not unknown, f"metrics no code in shared/ or services/ defines: {unknown}"


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {str(rule["alert"]) for rule in _rules()} <= fired


def test_promtool_accepts_the_rules() -> None:
    result = _promtool("check", "rules", str(ALERTS.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_configuration_that_loads_them() -> None:
    result = _promtool("check", "config", str(CONFIG.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout, result.stdout


def test_alerts_fire_when_they_should_and_stay_silent_when_healthy() -> None:
    result = _promtool("test", "rules", str(UNIT_TESTS.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
