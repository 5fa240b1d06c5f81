"""What can be checked of the production files without Docker: they parse, the files they name
exist, and they agree with the code (commands, ports, topics, data source uids)."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from postbacks import topics
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.schema import SCHEMA_DIR, schema_statements
from postbacks.topics import TOPICS
from postbacks_cli.main import app
from tests.deploy.grafana_files import (
    CLICKHOUSE_PLUGIN,
    DASHBOARDS,
    alert_rules,
    dashboards,
    datasources,
)

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {  # compose service -> (variable of its HTTP port, the port)
    "dispatcher": ("POSTBACKS_DISPATCHER_PORT", 9101),
    "log-writer": ("POSTBACKS_LOG_WRITER_PORT", 9102),
    "query-api": ("POSTBACKS_API_PORT", 8080),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services


def _mounts(service: dict[str, Any]) -> dict[Path, str]:
    """Host path -> container path of a service's bind mounts."""
    mounts: dict[Path, str] = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("."):
            mounts[(ROOT / host).resolve()] = container
    return mounts


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, arguments = line.strip().partition(" ")
            found.append((instruction.upper(), " ".join(arguments.split())))
    return found


def test_compose_runs_every_part(compose: dict[str, Any]) -> None:
    assert set(compose) == {
        *SERVICES,
        *("kafka", "kafka-topics", "clickhouse", "migrate", "prometheus", "grafana"),
    }
    assert "controller" in compose["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    for name, service in compose.items():
        for host in _mounts(service):
            assert host.exists(), f"{name} mounts {host}, which does not exist"


def test_each_service_has_its_own_dockerfile_built_the_production_way(
    compose: dict[str, Any],
) -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    for name, (port_variable, port) in SERVICES.items():
        service = compose[name]
        steps = _instructions(ROOT / service["build"]["dockerfile"])
        args = {i: [a for j, a in steps if j == i] for i in dict(steps)}
        assert service["command"] == [name]
        assert name in commands
        # The runtime stage (the last FROM) is the small base.
        assert args["FROM"][-1] == "python:3.11-slim", name
        (user,) = args["USER"]
        assert user not in ("root", "0"), f"{name} runs as root"
        installs = [a for a in args["RUN"] if a.startswith("uv sync")]
        assert installs, f"{name} installs nothing with uv"
        for install in installs:
            # From uv.lock only, and without the test and lint tools.
            assert {"--frozen", "--no-dev", "--package"} <= set(install.split()), install
        assert args["CMD"] == [f'["{name}"]']
        assert args["ENTRYPOINT"] == ['["postbacks"]']
        (healthcheck,) = args["HEALTHCHECK"]
        assert "/healthz" in healthcheck
        assert port_variable in healthcheck
        assert any(f"{port_variable}={port}" in a for a in args["ENV"])
        assert service["environment"][port_variable] == str(port)
        env = service["environment"]
        assert env["POSTBACKS_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["CLICKHOUSE_URL"] == "http://clickhouse:8123/"  # no password in a URL
        assert env["POSTBACKS_OPS_HOST"] == "0.0.0.0"
    # `docker compose up --scale dispatcher=N` needs no fixed name and no host port.
    assert "container_name" not in compose["dispatcher"]
    assert "ports" not in compose["dispatcher"]
    # The query-api refuses to start without tokens; compose says so before it even starts.
    assert ":?" in compose["query-api"]["environment"]["POSTBACKS_API_TOKENS"]


def _created_topics(script: str) -> dict[str, tuple[str, int, dict[str, str]]]:
    """name -> (partitions as written, partitions, --config pairs) of each `create` line of
    create-topics.sh, its shell variables replaced by their values or defaults."""
    values = dict(re.findall(r'^(\w+)="\$\{\w+:-([^}]*)\}"', script, re.M))
    values |= dict(re.findall(r'^(\w+)="([^$"]*)"$', script, re.M))
    created = {}
    for line in re.findall(r"^create (.*)$", script, re.M):
        raw = shlex.split(line)
        name, partitions, *options = (re.sub(r"\$(\w+)", lambda m: values[m[1]], w) for w in raw)
        assert options[::2] == ["--config"] * (len(options) // 2), line
        configs = dict(option.split("=", 1) for option in options[1::2])
        assert len(configs) == len(options) // 2, f"a --config repeated: {line}"
        created[name] = (raw[1], int(partitions), configs)
    return created


def test_the_topics_job_creates_the_topics_of_the_code_as_the_code_does(
    compose: dict[str, Any],
) -> None:
    job = compose["kafka-topics"]
    script_path = next(h for h, c in _mounts(job).items() if c == "/deploy/kafka") / Path(
        job["entrypoint"][-1]
    ).relative_to("/deploy/kafka")
    created = _created_topics(script_path.read_text())
    assert set(created) == {t.name for t in TOPICS}
    scaled = {*topics.INPUT_TOPICS, topics.ATTEMPTS}  # production's counts, larger
    for spec in TOPICS:
        written, partitions, configs = created[spec.name]
        # Retention, compression and cleanup policy: the capacity plan sizes disks by them.
        assert configs == spec.config, spec.name
        if spec.name not in scaled:
            assert partitions == spec.partitions, spec.name
            continue
        count = job["environment"][written.strip('"${}')].split(":-")[-1].rstrip("}")
        for where, value in (("compose", int(count)), ("the script's default", partitions)):
            assert value >= 12, f"{spec.name}: {where} gives {value} partitions, too few consumers"


def test_the_migrate_job_applies_the_schema_before_the_services_that_use_it(
    compose: dict[str, Any],
) -> None:
    job = compose["migrate"]
    assert job["command"] == ["migrate"]
    assert job["depends_on"] == {"clickhouse": {"condition": "service_healthy"}}
    mounts = _mounts(compose["clickhouse"])
    assert SCHEMA_DIR not in mounts, "the schema is the migrate job's, not the container's"
    users = ET.parse(SCHEMA_DIR / "access" / "users.xml").getroot().find("users")
    assert users is not None
    assert mounts[SCHEMA_DIR / "access" / "users.xml"].startswith("/etc/clickhouse-server/users.d")
    clickhouse_env = compose["clickhouse"]["environment"]
    for name in ("migrate", "log-writer", "query-api"):
        env = compose[name]["environment"]
        user = users.find(env["POSTBACKS_CLICKHOUSE_USER"])
        assert user is not None, f"{name}: no such user in users.xml"
        variable = user.find("password").get("from_env")  # type: ignore[union-attr]
        # The container's password of the user is the one the service is given.
        assert clickhouse_env[variable] == env["POSTBACKS_CLICKHOUSE_PASSWORD"], name
        if name != "migrate":
            assert compose[name]["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }
    assert "POSTBACKS_CLICKHOUSE_USER" not in compose["dispatcher"]["environment"]


def test_clickhouse_gets_a_read_only_grafana_user(compose: dict[str, Any]) -> None:
    mounts = _mounts(compose["clickhouse"])
    users_xml = next(h for h, c in mounts.items() if c.endswith("users.d/grafana.xml"))
    grafana = ET.parse(users_xml).getroot().find("users/grafana")
    assert grafana is not None
    password = grafana.find("password")
    assert password is not None
    variable = password.get("from_env")
    assert variable in compose["clickhouse"]["environment"]
    assert variable in compose["grafana"]["environment"]
    grants = [g.text for g in grafana.iter("query")]
    assert grants == ["GRANT SELECT ON postbacks.*"]
    profile = grafana.findtext("profile")
    root = ET.parse(users_xml).getroot()
    assert root.findtext(f"profiles/{profile}/readonly") == "1"


def test_prometheus_scrapes_every_service_on_its_port(compose: dict[str, Any]) -> None:
    mounts = _mounts(compose["prometheus"])
    config_path = next(h for h, c in mounts.items() if c == "/etc/prometheus/prometheus.yml")
    jobs = {j["job_name"]: j for j in yaml.safe_load(config_path.read_text())["scrape_configs"]}
    for name, (_, port) in SERVICES.items():
        job = jobs[name]
        if "dns_sd_configs" in job:  # every replica of a scaled service
            (sd,) = job["dns_sd_configs"]
            assert sd["names"] == [name]
            assert sd["port"] == port
            assert sd["type"] == "A"
        else:
            assert job["static_configs"][0]["targets"] == [f"{name}:{port}"]
    assert "dns_sd_configs" in jobs["dispatcher"]


def test_grafana_provisioning_is_consistent(compose: dict[str, Any]) -> None:
    grafana = compose["grafana"]
    assert CLICKHOUSE_PLUGIN in grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]
    mounts = _mounts(grafana)
    assert mounts[DASHBOARDS] == "/var/lib/grafana/dashboards"
    provisioning = next(h for h, c in mounts.items() if c == "/etc/grafana/provisioning")
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "postbacks.yaml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == mounts[DASHBOARDS]

    sources = datasources()
    assert sorted(sources.values()) == [CLICKHOUSE_PLUGIN, "prometheus"]
    boards = dashboards()
    assert len(boards) == 2
    panel_ids: dict[str, set[int]] = {}
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        panel_ids[board["uid"]] = set(ids)
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] in sources, f"{name}: {panel['title']}"
            assert panel["targets"], f"{name}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in sources

    (rule,) = alert_rules()
    assert rule["for"] == "5m"
    assert rule["data"][0]["datasourceUid"] in sources
    linked = rule["annotations"]
    assert int(linked["__panelId__"]) in panel_ids[linked["__dashboardUid__"]]


async def test_the_sql_compose_loads_runs_on_chdb(embedded_store: EmbeddedStore) -> None:
    # The fixture applied deploy/clickhouse/ already; applying again must be a no-op.
    for statement in schema_statements(embedded_store.database):
        await embedded_store.execute(statement)
    tables = await embedded_store.select(
        "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
        {"db": embedded_store.database},
    )
    assert {
        "postback_attempts",
        "postback_attempts_by_minute",
        "postback_attempts_by_minute_mv",
        "postback_configs",
    } <= {t["name"] for t in tables}


def test_every_long_running_service_restarts_and_only_jobs_do_not(
    compose: dict[str, Any],
) -> None:
    for name, service in compose.items():
        expected = "no" if name in ("kafka-topics", "migrate") else "unless-stopped"
        assert service.get("restart") == expected, name


def test_no_password_has_a_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    passwords = re.findall(r"\$\{(\w*PASSWORD\w*)([^}]*)\}", text)
    assert passwords, "the compose file names no password variable"
    for variable, rest in passwords:
        # ${VAR:?message}: Compose refuses to start without it; ${VAR:-default} would not.
        assert rest.startswith(":?"), f"{variable} has a default or no requirement: {rest!r}"


def _seconds(duration: str) -> int:
    value, unit = re.fullmatch(r"(\d+)(s|m)", duration).groups()  # type: ignore[union-attr]
    return int(value) * (60 if unit == "m" else 1)


def test_kafka_has_a_listener_for_the_tracking_platform_outside(compose: dict[str, Any]) -> None:
    kafka = compose["kafka"]["environment"]
    listeners = dict(listener.split("://") for listener in kafka["KAFKA_LISTENERS"].split(","))
    advertised = dict(
        listener.split("://") for listener in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    protocols = dict(p.split(":") for p in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert listeners["EXTERNAL"] == ":29092"
    assert "EXTERNAL" in protocols
    # Metadata must name an address the platform resolves, not the compose network's `kafka`.
    host, port = advertised["EXTERNAL"].rsplit(":", 1)
    assert host.startswith("${KAFKA_EXTERNAL_HOST")
    (published,) = compose["kafka"]["ports"]
    bind, host_port, container_port = published.rsplit(":", 2)
    assert container_port == "29092"
    assert host_port == port  # the advertised port is the one published
    assert bind.startswith("${KAFKA_EXTERNAL_BIND:-127.0.0.1}")  # loopback unless told
    assert advertised["PLAINTEXT"] == "kafka:9092"


def test_the_kafka_healthcheck_starts_a_jvm_often_only_while_kafka_starts(
    compose: dict[str, Any],
) -> None:
    check = compose["kafka"]["healthcheck"]
    assert _seconds(check["interval"]) >= 30
    assert _seconds(check["start_interval"]) <= 5
    assert _seconds(check["start_period"]) >= 60


def test_grafana_plugin_is_pinned_and_installable_without_internet(
    compose: dict[str, Any],
) -> None:
    pinned = compose["grafana"]["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]
    plugin, version = pinned.split("@")
    assert plugin == CLICKHOUSE_PLUGIN
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), pinned
    script = (ROOT / "deploy" / "grafana" / "fetch-plugin.sh").read_text()
    assert f"PLUGIN={plugin}\n" in script
    assert f"VERSION={version}\n" in script
    offline = yaml.safe_load((ROOT / "docker-compose.offline.yml").read_text())["services"]
    grafana = offline["grafana"]
    assert grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"] == ""
    (mount,) = grafana["volumes"]
    host, container, mode = mount.split(":")
    assert host == f"./deploy/grafana/plugins/{plugin}"
    assert container == f"/var/lib/grafana/plugins/{plugin}"
    assert mode == "ro"
    assert "deploy/grafana/plugins/" in (ROOT / ".gitignore").read_text().splitlines()
