"""Bulk re-fire jobs in ClickHouse: the job rows, the attempts each asked for, their counts.

`postback_refire_jobs` holds one row per saved change of a job (ReplacingMergeTree by version,
read with FINAL); `postback_refire_job_attempts` one row per pair a job published. What
happened to those attempts is never copied: it is read from the attempt log when asked, so the
counts are as fresh as the log and survive any restart.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

import orjson

from postbacks.clock import now_ms
from postbacks.store import Params, Row
from query_api.confinement import CONFINING_KEYS, UNCONFINED, Confinement
from query_api.logs.filters import LogQuery, parse_log_query
from query_api.logs.reader import TABLE as ATTEMPTS
from query_api.logs.reader import format_time
from query_api.refires.selection import Pair, PairPosition

JOBS = "postback_refire_jobs"
JOB_ATTEMPTS = "postback_refire_job_attempts"
LISTED_JOBS = 100


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # every selected pair was published (or skipped); results arrive in the log
    FAILED = "failed"


UNFINISHED = (JobState.QUEUED, JobState.RUNNING)


class JobStore(Protocol):
    def table(self, name: str) -> str: ...
    async def select(self, sql: str, params: Params | None = None) -> list[Row]: ...
    async def insert_json(self, table: str, rows: list[bytes]) -> None: ...


@dataclass(frozen=True)
class RefireJob:
    job_id: UUID
    version: int
    state: JobState
    filters: tuple[tuple[str, str], ...]  # query-string pairs, without from/to
    from_ms: int
    to_ms: int
    selected: int
    skipped: int
    position: PairPosition | None
    error: str
    created_at: datetime
    updated_at: datetime
    # The token's confinement: applied to every selection of the job, and who may see it.
    confinement: Confinement = UNCONFINED

    @classmethod
    def new(
        cls,
        filters: list[tuple[str, str]],
        query: LogQuery,
        selected: int,
        confinement: Confinement = UNCONFINED,
    ) -> RefireJob:
        assert query.from_ms is not None, "window filled in first"
        assert query.to_ms is not None, "window frozen first"
        now = now_ms()
        return cls(
            job_id=uuid.uuid4(),
            version=1,
            state=JobState.QUEUED if selected else JobState.DONE,
            filters=tuple(filters),
            from_ms=query.from_ms,
            to_ms=query.to_ms,
            selected=selected,
            skipped=0,
            position=None,
            error="",
            created_at=now,
            updated_at=now,
            confinement=confinement,
        )

    def query(self) -> LogQuery:
        """The job's selection as a log query, its window as frozen at creation, confined."""
        parsed = parse_log_query(self.filters)
        window = dataclasses.replace(parsed, from_ms=self.from_ms, to_ms=self.to_ms)
        return self.confinement.query(window)

    def changed(self, **changes: Any) -> RefireJob:
        return dataclasses.replace(self, version=self.version + 1, updated_at=now_ms(), **changes)

    def attempt_id(self, pair: Pair) -> UUID:
        """The deterministic attempt id of this job's re-fire of `pair`: a resumed job that
        publishes the pair again asks for the same attempt, which the log stores once."""
        return uuid.uuid5(self.job_id, f"{pair.transaction_id}/{pair.postback_id}")


@dataclass(frozen=True)
class JobCounts:
    fired: int = 0
    succeeded: int = 0
    failed: int = 0


class JobRepository:
    """The job tables. GLOBAL IN / GLOBAL JOIN: on a cluster both sides are Distributed tables
    sharded by different keys, so the subquery must run once and be sent to every shard (on a
    single server GLOBAL changes nothing)."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def save(self, job: RefireJob) -> None:
        await self._store.insert_json(JOBS, [_job_row(job)])

    async def get(self, job_id: UUID) -> RefireJob | None:
        rows = await self._store.select(
            f"SELECT {_JOB_COLUMNS} FROM {self._store.table(JOBS)} FINAL "
            "WHERE job_id = {job_id:UUID}",
            {"job_id": str(job_id)},
        )
        return _job(rows[0]) if rows else None

    async def recent(self) -> list[RefireJob]:
        """The newest LISTED_JOBS jobs, newest first."""
        return await self._select_jobs("", f"LIMIT {LISTED_JOBS}")

    async def unfinished(self) -> list[RefireJob]:
        """Every job still queued or running, oldest first: the order to resume them in."""
        states = ", ".join(f"'{s.value}'" for s in UNFINISHED)
        return list(reversed(await self._select_jobs(f"WHERE state IN ({states})", "")))

    async def _select_jobs(self, where: str, limit: str) -> list[RefireJob]:
        rows = await self._store.select(
            f"SELECT {_JOB_COLUMNS} FROM {self._store.table(JOBS)} FINAL {where} "
            f"ORDER BY created_at DESC, job_id {limit}"
        )
        return [_job(row) for row in rows]

    async def record_attempts(self, job: RefireJob, pairs: list[tuple[Pair, UUID]]) -> None:
        requested_at = now_ms().isoformat()
        rows = [
            orjson.dumps(
                {
                    "job_id": str(job.job_id),
                    "attempt_id": str(attempt_id),
                    "transaction_id": pair.transaction_id,
                    "postback_id": str(pair.postback_id),
                    "refire_of": str(pair.refire_of),
                    "requested_at": requested_at,
                }
            )
            for pair, attempt_id in pairs
        ]
        await self._store.insert_json(JOB_ATTEMPTS, rows)

    async def logged_attempts(self, job: RefireJob) -> set[UUID]:
        """The job's attempts the log already holds (a resumed job need not send them again)."""
        rows = await self._store.select(
            f"SELECT DISTINCT attempt_id FROM {self._store.table(ATTEMPTS)} "
            "WHERE attempted_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            f"AND attempt_id GLOBAL IN (SELECT attempt_id FROM {self._store.table(JOB_ATTEMPTS)} "
            "WHERE job_id = {job_id:UUID})",
            {"since": _millis(job.created_at), "job_id": str(job.job_id)},
        )
        return {UUID(row["attempt_id"]) for row in rows}

    async def counts(self, jobs: list[RefireJob]) -> dict[UUID, JobCounts]:
        """Per job: attempts requested (fired), and of those the log's successes and failures."""
        if not jobs:
            return {}
        ids = ", ".join(f"toUUID('{job.job_id}')" for job in jobs)
        since = min(_millis(job.created_at) for job in jobs)
        job_attempts = self._store.table(JOB_ATTEMPTS)
        # uniqExact on attempt_id: a pair published twice (a resumed job) and an attempt not
        # yet merged away by ReplacingMergeTree each count once.
        rows = await self._store.select(
            "SELECT r.job_id AS job_id, uniqExact(r.attempt_id) AS fired, "
            "uniqExactIf(r.attempt_id, a.status = 'Success') AS succeeded, "
            "uniqExactIf(r.attempt_id, a.status = 'Failed') AS failed "
            f"FROM {job_attempts} AS r GLOBAL LEFT JOIN ("
            f"SELECT DISTINCT attempt_id, status FROM {self._store.table(ATTEMPTS)} "
            "WHERE attempted_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
            f"AND attempt_id GLOBAL IN (SELECT attempt_id FROM {job_attempts} "
            f"WHERE job_id IN ({ids}))"
            f") AS a ON a.attempt_id = r.attempt_id WHERE r.job_id IN ({ids}) GROUP BY r.job_id",
            {"since": since},
        )
        return {
            UUID(row["job_id"]): JobCounts(
                fired=int(row["fired"]),
                succeeded=int(row["succeeded"]),
                failed=int(row["failed"]),
            )
            for row in rows
        }


def describe(job: RefireJob, counts: JobCounts) -> dict[str, Any]:
    """The job as the API shows it."""
    return {
        "job_id": str(job.job_id),
        "state": job.state.value,
        "filters": [list(pair) for pair in job.filters],
        "from": format_time(job.from_ms),
        "to": format_time(job.to_ms),
        "selected": job.selected,
        "fired": counts.fired,
        "skipped": job.skipped,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
        # Published but not logged yet: the dispatcher and log-writer are still on it.
        "pending": max(counts.fired - counts.succeeded - counts.failed, 0),
        "error": job.error or None,
        "created_at": format_time(_millis(job.created_at)),
        "updated_at": format_time(_millis(job.updated_at)),
    }


_JOB_COLUMNS = (
    "job_id, version, state, filters, from_ms, to_ms, selected, skipped, "
    "position_transaction_id, position_postback_id, error, "
    "toUnixTimestamp64Milli(created_at) AS created_ms, "
    "toUnixTimestamp64Milli(updated_at) AS updated_ms"
)


def _job_row(job: RefireJob) -> bytes:
    return orjson.dumps(
        {
            "job_id": str(job.job_id),
            "version": job.version,
            "state": job.state.value,
            "filters": _stored_filters(job),
            "from_ms": job.from_ms,
            "to_ms": job.to_ms,
            "selected": job.selected,
            "skipped": job.skipped,
            "position_transaction_id": job.position.transaction_id if job.position else "",
            "position_postback_id": str(job.position.postback_id) if job.position else None,
            "error": job.error,
            "created_at": job.created_at.isoformat(),
            "updated_at": job.updated_at.isoformat(),
        }
    )


def _job(row: Row) -> RefireJob:
    position = None
    if row["position_postback_id"] is not None:
        position = PairPosition(row["position_transaction_id"], UUID(row["position_postback_id"]))
    return RefireJob(
        job_id=UUID(row["job_id"]),
        version=int(row["version"]),
        state=JobState(row["state"]),
        **_read_filters(row["filters"]),
        from_ms=int(row["from_ms"]),
        to_ms=int(row["to_ms"]),
        selected=int(row["selected"]),
        skipped=int(row["skipped"]),
        position=position,
        error=row["error"],
        created_at=_datetime(int(row["created_ms"])),
        updated_at=_datetime(int(row["updated_ms"])),
    )


def _stored_filters(job: RefireJob) -> str:
    """The `filters` column: the pairs as a JSON list, or for a confined job an object of the
    pairs and the confinement (a String column, so no schema change; older rows are lists)."""
    if not job.confinement.confined:
        return orjson.dumps(job.filters).decode()
    confined = {k: v for k, v in job.confinement.described().items() if v is not None}
    return orjson.dumps({"filters": job.filters, **confined}).decode()


def _read_filters(text: str) -> dict[str, Any]:
    stored = orjson.loads(text)
    pairs = stored["filters"] if isinstance(stored, dict) else stored
    confinement = UNCONFINED
    if isinstance(stored, dict):
        confinement = Confinement(
            **{key: frozenset(stored[key]) for key in CONFINING_KEYS if key in stored}
        )
    return {
        "filters": tuple((str(k), str(v)) for k, v in pairs),
        "confinement": confinement,
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _datetime(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)
