"""The least-privilege accounts (deploy/clickhouse/access/): what can be checked without a server
with access control (chDB has none). Each GRANT parses with ClickHouse's own parser; the
Compose users hold exactly their role's privileges; each service's role covers every table its
code names (derived from the code, not listed), and holds nothing that changes the schema."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest

from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.migration import VERSION_TABLE
from postbacks.store.schema import SCHEMA_DIR, schema_statements

ROOT = Path(__file__).resolve().parents[2]
ACCESS = SCHEMA_DIR / "access"
# Compose user -> the role of grants.sql it stands for.
USERS = {
    "postbacks_migrator": "postbacks_migrate",
    "postbacks_writer": "postbacks_log_writer",
    "postbacks_api": "postbacks_query_api",
}
# Service role -> the code it runs.
SERVICES = {
    "postbacks_log_writer": ROOT / "services" / "log-writer" / "log_writer",
    "postbacks_query_api": ROOT / "services" / "query-api" / "query_api",
}
# Setting retention is a schema change: `postbacks migrate`'s, never a service's.
RETENTION = {"ALTER TTL", "ALTER MATERIALIZE TTL"}
_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON (?P<target>\S+)(?: TO (?P<role>\w+))?$")

Grants = dict[str, set[tuple[str, str]]]  # role or user -> {(privilege, target)}


def _grants(statements: Sequence[tuple[str, str | None]]) -> Grants:
    found: Grants = {}
    for statement, grantee in statements:
        match = _GRANT.match(statement)
        assert match, f"not a GRANT this test reads: {statement}"
        who = grantee or match["role"]
        assert who, statement
        for privilege in match["privileges"].split(","):
            found.setdefault(who, set()).add((privilege.strip(), match["target"]))
    return found


def sql_statements() -> list[str]:
    text = (ACCESS / "grants.sql").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def role_grants() -> Grants:
    return _grants([(s, None) for s in sql_statements() if s.startswith("GRANT")])


def user_grants() -> Grants:
    users = ET.parse(ACCESS / "users.xml").getroot().find("users")
    assert users is not None
    queries = [(q.text or "", user.tag) for user in users for q in user.iter("query")]
    return _grants(queries)


def tables() -> set[str]:
    return {
        m[1]
        for s in schema_statements("postbacks")
        if (m := re.search(r"CREATE TABLE IF NOT EXISTS postbacks\.(\w+)", s))
    }


def named_tables(code: Path, *, writers_only: bool) -> set[str]:
    """The schema's tables a service's code names; `writers_only`: in the modules that insert."""
    named: set[str] = set()
    for path in code.rglob("*.py"):
        text = path.read_text()
        if writers_only and not ("insert_json(" in text or "INSERT INTO" in text):
            continue
        named |= {t for t in tables() if re.search(rf"\b{t}\b", text)}
    return named


def test_every_role_is_created_and_the_compose_users_hold_exactly_its_privileges() -> None:
    roles = role_grants()
    created = {s.split()[-1] for s in sql_statements() if s.startswith("CREATE ROLE")}
    assert created == set(roles) == set(USERS.values())
    users = user_grants()
    assert set(users) == set(USERS)
    for user, role in USERS.items():
        assert users[user] == roles[role], f"users.xml {user} differs from grants.sql {role}"


@pytest.mark.parametrize("role", sorted(SERVICES))
def test_a_service_may_use_every_table_its_code_names_and_change_no_schema(role: str) -> None:
    granted = role_grants()[role]
    on = {(privilege, target.removeprefix("postbacks.")) for privilege, target in granted}
    reads = named_tables(SERVICES[role], writers_only=False) | {VERSION_TABLE}
    writes = named_tables(SERVICES[role], writers_only=True)
    assert reads, "the code names no table: the derivation is broken"
    assert {t for t in reads if ("SELECT", t) not in on} == set(), "SELECT missing"
    assert {t for t in writes if ("INSERT", t) not in on} == set(), "INSERT missing"
    beyond = {(p, t) for p, t in on if p not in {"SELECT", "INSERT"}}
    assert beyond == set()
    assert all(not target.endswith("*") for _, target in granted), "a service gets tables"


def test_the_migration_role_may_drop_only_its_scratch_tables() -> None:
    from postbacks.store.missing_columns import SCRATCH_PREFIX

    drops = {t for p, t in role_grants()["postbacks_migrate"] if p.startswith("DROP")}
    assert drops == {f"postbacks.{SCRATCH_PREFIX}*"}


async def test_every_grant_parses(embedded_store: EmbeddedStore) -> None:
    statements = sql_statements() + [
        f"{q.text} TO someone" for q in ET.parse(ACCESS / "users.xml").getroot().iter("query")
    ]
    for statement in statements:
        # ClickHouse's parser knows every privilege name; a typo is a syntax error here.
        (row,) = await embedded_store.select(
            "SELECT formatQuery({q:String}) AS q", {"q": statement}
        )
        assert row["q"].split()[0] in ("GRANT", "CREATE"), statement


def test_the_migration_role_sets_retention() -> None:
    granted = role_grants()["postbacks_migrate"]
    assert {(privilege, "postbacks.*") for privilege in RETENTION} <= granted
