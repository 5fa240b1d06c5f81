"""Reading the Grafana provisioning the way Grafana would: its queries, and the macros it expands.

Every ClickHouse query of the dashboards, template variables and alert rules is found here, so
tests can run each one on the real schema; every PromQL expression, so tests can check that the
metrics it names are exported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"
CLICKHOUSE_PLUGIN = "grafana-clickhouse-datasource"


@dataclass(frozen=True)
class Query:
    where: str  # "file: panel title" or "file: variable name", for failure messages
    text: str
    table: bool  # table format (one row per group) rather than a time series
    board: str | None = None  # the dashboard file it is on; None for an alert rule


def datasources() -> dict[str, str]:
    """Provisioned data sources: uid -> plugin type."""
    found: dict[str, str] = {}
    for path in sorted((PROVISIONING / "datasources").glob("*.yaml")):
        for source in yaml.safe_load(path.read_text())["datasources"]:
            found[source["uid"]] = source["type"]
    return found


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def template_variables(board: str) -> dict[str, dict[str, Any]]:
    """The template variables of one dashboard file, by name."""
    return {v["name"]: v for v in dashboards()[board]["templating"]["list"]}


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in sorted((PROVISIONING / "alerting").glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += group["rules"]
    return rules


def _targets(board: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            # A target without its own datasource inherits the panel's (Grafana's rule).
            source = target.get("datasource") or panel["datasource"]
            yield panel["title"], {**target, "datasource": source}


def clickhouse_queries() -> list[Query]:
    sources = datasources()
    queries: list[Query] = []
    for name, board in dashboards().items():
        for title, target in _targets(board):
            if sources[target["datasource"]["uid"]] == CLICKHOUSE_PLUGIN:
                table = target["format"] == 1
                queries.append(Query(f"{name}: {title}", target["rawSql"], table, name))
        for variable in board["templating"]["list"]:
            if sources.get(variable["datasource"]["uid"]) == CLICKHOUSE_PLUGIN:
                where = f"{name}: ${variable['name']}"
                queries.append(Query(where, variable["query"], True, name))
    for rule in alert_rules():
        for step in rule["data"]:
            if sources.get(step["datasourceUid"]) == CLICKHOUSE_PLUGIN:
                queries.append(Query(f"alert {rule['uid']}", step["model"]["rawSql"], True))
    return queries


def promql_expressions() -> list[tuple[str, str]]:
    """(where, expression) for every Prometheus target of the dashboards."""
    sources = datasources()
    found: list[tuple[str, str]] = []
    for name, board in dashboards().items():
        for title, target in _targets(board):
            if sources[target["datasource"]["uid"]] == "prometheus":
                found.append((f"{name}: {title}", target["expr"]))
    return found


_METRIC = re.compile(r"\b(postbacks_[a-z0-9_]+)")
_HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def metric_families(expression: str) -> set[str]:
    """The Postbacks metric families an expression reads (`x_bucket` is family `x`)."""
    return {_HISTOGRAM_SERIES.sub("", name) for name in _METRIC.findall(expression)}


# --- The ClickHouse plugin's macros (grafana/clickhouse-datasource pkg/macros), and Grafana's
# own template variable formats, expanded the way they are before a query reaches ClickHouse.

_TIME_FILTER = re.compile(r"\$__timeFilter\(\s*([^)]+?)\s*\)")
_TIME_INTERVAL = re.compile(r"\$__timeInterval\(\s*([^)]+?)\s*\)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_SCHEMA_QUALIFIER = re.compile(r"\bpostbacks\.(?=postback_)")


@dataclass(frozen=True)
class CustomAllValue:
    """The value of a variable set to "All" when the variable has a custom all value (`allValue`).

    Grafana puts it into the query as it is, whatever format the query asks for (`singlequote`,
    `sqlstring`, `csv`, `raw`, ...): not quoted, escaped or joined; only `text` gives "All".
    Grafana's docs: the custom all value "is never escaped so you will have to think about what
    is a valid value for your data source" (Variables, "Custom all value"); the code: grafana/scenes
    CustomAllValue.formatter, and before scenes TemplateSrv ("skip formatting of custom all
    values unless format set to text or percentencode").
    """

    value: str


# What a variable stands for in a query: the values selected, or a custom all value.
Selection = Sequence[str] | CustomAllValue


def all_selected(variable: Mapping[str, Any], options: Sequence[str]) -> Selection:
    """A variable's value when "All" is selected, as Grafana computes it (scenes'
    MultiValueVariable.getValue): its custom all value if it has one, else every option its
    query listed."""
    if not variable.get("includeAll"):
        raise ValueError(f"${variable['name']} has no All option")
    if variable.get("allValue"):
        return CustomAllValue(variable["allValue"])
    return list(options)


def _quote(value: str) -> str:
    # Grafana's `singlequote`: a backslash before each single quote, nothing else escaped.
    return "'" + value.replace("'", "\\'") + "'"


def expand(
    sql: str,
    *,
    start: datetime,
    end: datetime,
    interval_s: int,
    variables: Mapping[str, Selection],
    database: str,
) -> str:
    """The SQL ClickHouse receives; a macro or variable this does not know is an error.

    `variables` gives each variable's selected values, or its `CustomAllValue` when "All" is
    selected and it has one (`all_selected` gives either, as Grafana does).
    """
    since, until = int(start.timestamp()), int(end.timestamp())
    sql = _TIME_FILTER.sub(
        lambda m: f"{m[1]} >= toDateTime({since}) AND {m[1]} <= toDateTime({until})", sql
    )
    sql = _TIME_INTERVAL.sub(
        lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {max(interval_s, 1)} second)",
        sql,
    )
    sql = sql.replace("$__interval_s", str(max(interval_s, 1)))
    sql = sql.replace("$__fromTime", f"toDateTime({since})")
    sql = sql.replace("$__toTime", f"toDateTime({until})")

    def variable(match: re.Match[str]) -> str:
        name = match[1] or match[3]
        if name.startswith("__") or name not in variables:
            raise ValueError(f"unknown macro or variable {match[0]!r} in:\n{sql}")
        values = variables[name]
        if isinstance(values, CustomAllValue):
            if match[2] == "text":
                return "All"
            if match[2] in ("percentencode", "queryparam"):
                raise ValueError(f"variable format {match[2]!r} not handled here")
            return values.value
        if match[2] == "singlequote":
            return ",".join(_quote(v) for v in values)
        if match[2] not in (None, "csv", "raw"):
            raise ValueError(f"variable format {match[2]!r} not handled here")
        return ",".join(values)

    sql = _VARIABLE.sub(variable, sql)
    return _SCHEMA_QUALIFIER.sub(f"{database}.", sql)
