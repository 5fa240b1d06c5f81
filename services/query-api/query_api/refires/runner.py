"""Runs bulk re-fire jobs: one at a time, paced, resumable after a restart.

A job pages through its selection (refires/selection.py) by keyset, a batch at a time. For each
batch it first records the attempt ids it is about to ask for, then publishes the fire requests
at no more than POSTBACKS_API_REFIRE_RATE per second, then saves its position. A query-api that
stops mid-batch leaves the job `running` at its last saved position; the next start resumes it
(QueryApi.start calls resume). The batch is then selected again: pairs that succeeded since
have dropped out of the selection, and pairs whose deterministic attempt the log already holds
are not sent again. Only a request published but not logged yet is sent a second time (at
least once, as everywhere: the attempt id lets the publisher drop it, and the log stores it
once).

One job runs at a time per process, so the rate bounds what this process sends in total.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from uuid import UUID

from postbacks.fire_requests import FireRequest
from postbacks.store import Store
from query_api.config_repository import ConfigRepository
from query_api.confinement import UNCONFINED, Confinement
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.errors import BadRequest, Unavailable
from query_api.logs.filters import LogQuery
from query_api.logs.reader import LogStore
from query_api.refires.jobs import UNFINISHED, JobRepository, JobState, RefireJob
from query_api.refires.requests import CannotRefire, refire_request
from query_api.refires.selection import Pair, PairPosition, count_pairs, select_pairs
from query_api.refires.settings import RefireSettings

log = logging.getLogger(__name__)

# A query refused for load (every slot busy, too slow) is tried again this often before the job
# is marked failed.
BUSY_RETRIES = 10
BUSY_WAIT_S = 1.0


class TooManyPairs(BadRequest):
    code = "too_many_pairs"


class Pacer:
    """Spaces calls to wait() at least 1/rate seconds apart."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


class RefireRunner:
    def __init__(
        self,
        store: Store,
        selection_store: LogStore,
        publisher: DispatcherPublisher,
        settings: RefireSettings,
    ) -> None:
        self.jobs = JobRepository(store)
        self._configs = ConfigRepository(store)
        # Selections read the log through the guarded store: the same limits as a log query.
        self._selection = selection_store
        self._publisher = publisher
        self._settings = settings
        self._queue: asyncio.Queue[UUID] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def dry_run(self, query: LogQuery) -> int:
        return await count_pairs(self._selection, query)

    async def submit(
        self,
        filters: list[tuple[str, str]],
        query: LogQuery,
        confinement: Confinement = UNCONFINED,
    ) -> RefireJob:
        """Create a job for `query` (its window already filled in) and queue it; the job keeps
        `confinement` and applies it to every selection it makes."""
        selected = await count_pairs(self._selection, confinement.query(query))
        limit = self._settings.api_refire_max_pairs
        if selected > limit:
            raise TooManyPairs(
                f"this filter selects {selected:,} (transaction, postback) pairs and one re-fire "
                f"may fire at most {limit:,} (POSTBACKS_API_REFIRE_MAX_PAIRS); narrow the filter "
                "(a shorter from..to, a publisher_id or postback_name) or re-fire in parts"
            )
        job = RefireJob.new(filters, query, selected, confinement)
        await self.jobs.save(job)
        if job.state is JobState.QUEUED:
            self._enqueue(job.job_id)
        return job

    async def resume(self) -> int:
        """Queue every job a previous run left queued or running; how many there were."""
        unfinished = await self.jobs.unfinished()
        for job in unfinished:
            log.info("resuming re-fire job %s (%s)", job.job_id, job.state)
            self._enqueue(job.job_id)
        return len(unfinished)

    async def stop(self) -> None:
        """Stop between two fire requests; the running job resumes at the next start."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    def _enqueue(self, job_id: UUID) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="refire-jobs")
        self._queue.put_nowait(job_id)

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            try:
                job = await self.jobs.get(job_id)
                if job is not None and job.state in UNFINISHED:
                    await self._run(job)
            except Exception:
                # The store did not answer even to record the failure: the job stays unfinished
                # in its table and resumes at the next start; the worker goes on with the next.
                log.exception("re-fire job %s could not be run or recorded", job_id)

    async def _run(self, job: RefireJob) -> None:
        job = job.changed(state=JobState.RUNNING)
        await self.jobs.save(job)
        try:
            job = await self._fire_all(job)
            job = job.changed(state=JobState.DONE)
        except asyncio.CancelledError:
            raise  # stopped: the job stays `running` at its position and resumes at next start
        except Exception as exc:
            log.exception("re-fire job %s failed", job.job_id)
            job = job.changed(state=JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
        await self.jobs.save(job)
        log.info("re-fire job %s %s", job.job_id, job.state)

    async def _fire_all(self, job: RefireJob) -> RefireJob:
        query = job.query()
        already_logged = await self.jobs.logged_attempts(job)
        pacer = Pacer(self._settings.api_refire_rate)
        while pairs := await self._select(query, job.position):
            requests, skipped = await self._requests(job, pairs)
            # Recorded before publishing: the counts may then include a request that a crash
            # kept from being sent, never miss one that was sent.
            await self.jobs.record_attempts(job, [(p, r.attempt_id) for p, r in requests])
            for _, request in requests:
                if request.attempt_id in already_logged:
                    continue
                await pacer.wait()
                await self._publisher.request_fire(request)
            last = pairs[-1]
            job = job.changed(
                skipped=job.skipped + skipped,
                position=PairPosition(last.transaction_id, last.postback_id),
            )
            await self.jobs.save(job)
        return job

    async def _requests(
        self, job: RefireJob, pairs: list[Pair]
    ) -> tuple[list[tuple[Pair, FireRequest]], int]:
        # Configurations as they are now, read once per batch: a fix saved mid-job is used from
        # the next batch on.
        configs = {pid: await self._configs.get(pid) for pid in {p.postback_id for p in pairs}}
        requests: list[tuple[Pair, FireRequest]] = []
        skipped = 0
        for pair in pairs:
            config = configs[pair.postback_id]
            if config is not None and not config.enabled:
                log.info("re-fire job %s: skipped %s, configuration disabled", job.job_id, pair)
                skipped += 1
                continue
            if config is not None and not job.confinement.admits_config(config):
                log.info(
                    "re-fire job %s: skipped %s, configuration moved outside the job's confinement",
                    job.job_id,
                    pair,
                )
                skipped += 1
                continue
            try:
                request = refire_request(
                    config,
                    postback_id=pair.postback_id,
                    source=pair.source,
                    refire_of=pair.refire_of,
                    attempt_id=job.attempt_id(pair),
                )
            except CannotRefire as exc:
                log.info("re-fire job %s: skipped a pair: %s", job.job_id, exc.message)
                skipped += 1
                continue
            requests.append((pair, request))
        return requests, skipped

    async def _select(self, query: LogQuery, after: PairPosition | None) -> list[Pair]:
        for attempt in range(BUSY_RETRIES):
            try:
                return await select_pairs(self._selection, query, after, self._settings.batch_size)
            except Unavailable:
                if attempt == BUSY_RETRIES - 1:
                    raise
                await asyncio.sleep(BUSY_WAIT_S)
        raise AssertionError("unreachable")
