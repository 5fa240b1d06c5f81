"""The engine's bookkeeping, without Kafka or HTTP: slots, and the account of pending outputs
and committable offsets."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher.offsets import OffsetTracker, Partition
from dispatcher.scheduler import Admission, HostScheduler

TP = Partition("conversions", 0)


async def test_a_hanging_host_holds_only_its_own_slots() -> None:
    release = asyncio.Event()
    done: list[str] = []

    async def run(job: str) -> None:
        if job.startswith("hang"):
            await release.wait()
        done.append(job)

    scheduler: HostScheduler[str] = HostScheduler(
        run, max_in_flight=10, per_host=2, waiting_per_host=3, max_line_wait_s=0.05
    )
    admitted = [scheduler.submit("hang.test", f"hang-{i}") for i in range(6)]
    # 2 in flight, 3 waiting; the sixth is not queued: the line is full. The host has not yet
    # shown it is stuck, so the caller is told to wait for room (backpressure)...
    assert admitted == [Admission.ACCEPTED] * 5 + [Admission.FULL]
    assert (scheduler.in_flight, scheduler.waiting) == (2, 3)
    await asyncio.sleep(0.1)
    # ...and once it has finished nothing for longer than its line may take, it is overloaded.
    assert scheduler.submit("hang.test", "hang-6") is Admission.OVERLOADED
    for i in range(20):  # a healthy host keeps being served meanwhile
        assert scheduler.submit("ok.test", f"ok-{i}") is Admission.ACCEPTED
        for _ in range(3):  # the job's task starts, runs and releases its slot
            await asyncio.sleep(0)
        assert scheduler.load("ok.test") == (0, 0)
    assert len([j for j in done if j.startswith("ok")]) == 20
    assert not any(j.startswith("hang") for j in done)
    assert scheduler.load("hang.test") == (2, 3)
    release.set()
    await scheduler.wait_idle()
    assert len(done) == 25
    assert (scheduler.in_flight, scheduler.waiting) == (0, 0)


async def test_a_backlog_runs_on_the_tasks_whose_slots_it_waits_for() -> None:
    ran: list[tuple[str, int]] = []  # job, and the task that ran it, as they start
    gate = asyncio.Event()

    async def run(job: str) -> None:
        ran.append((job, id(asyncio.current_task())))
        await gate.wait()

    scheduler: HostScheduler[str] = HostScheduler(
        run, max_in_flight=2, per_host=2, waiting_per_host=100
    )
    for i in range(10):
        assert scheduler.submit("a.test", f"a-{i}") is Admission.ACCEPTED
    await asyncio.sleep(0)  # the two slots' tasks start their jobs and wait at the gate
    gate.set()
    await scheduler.wait_idle()
    assert [job for job, _ in ran] == [f"a-{i}" for i in range(10)]  # each once, in turn
    assert len({task for _, task in ran}) == 2  # one task per slot, not one per job
    assert (scheduler.in_flight, scheduler.waiting) == (0, 0)


async def test_cancelled_tasks_free_their_slots_and_take_nothing_more() -> None:
    started: list[str] = []

    async def run(job: str) -> None:
        started.append(job)
        await asyncio.sleep(3600)

    scheduler: HostScheduler[str] = HostScheduler(
        run, max_in_flight=2, per_host=2, waiting_per_host=100
    )
    for i in range(5):
        scheduler.submit("a.test", f"a-{i}")
    await asyncio.sleep(0)
    await scheduler.cancel_all()
    assert started == ["a-0", "a-1"]
    assert (scheduler.in_flight, scheduler.waiting) == (0, 0)
    assert scheduler.load("a.test") == (0, 0)


async def test_the_global_bound_queues_and_hands_slots_out_in_turn() -> None:
    gate = asyncio.Event()
    order: list[str] = []
    peak = 0

    async def run(job: str) -> None:
        nonlocal peak
        peak = max(peak, scheduler.in_flight)
        await gate.wait()
        order.append(job)

    scheduler: HostScheduler[str] = HostScheduler(
        run, max_in_flight=3, per_host=3, waiting_per_host=100
    )
    for i in range(5):
        scheduler.submit("a.test", f"a{i}")
    for i in range(2):
        scheduler.submit("b.test", f"b{i}")
    assert (scheduler.in_flight, scheduler.waiting) == (3, 4)
    gate.set()
    await scheduler.wait_idle()
    assert peak == 3
    assert sorted(order) == ["a0", "a1", "a2", "a3", "a4", "b0", "b1"]
    # b's first waiting job got a turn before a's remaining ones were all served.
    assert order.index("b0") < order.index("a4")


async def test_idle_hosts_are_dropped_past_the_bound_and_busy_ones_kept() -> None:
    release = asyncio.Event()

    async def run(job: str) -> None:
        if job == "hang":
            await release.wait()

    scheduler: HostScheduler[str] = HostScheduler(
        run, max_in_flight=10, per_host=2, waiting_per_host=3, hosts_kept=3
    )
    scheduler.submit("hang.test", "hang")
    for i in range(10):
        assert scheduler.submit(f"h{i}.test", "ok") is Admission.ACCEPTED
        for _ in range(3):  # the job's task starts, runs and releases its slot
            await asyncio.sleep(0)
        assert scheduler.hosts_known <= 3
    # The busy host was never dropped: its slot is still counted and its job still runs.
    assert scheduler.load("hang.test") == (1, 0)
    release.set()
    await scheduler.wait_idle()
    assert (scheduler.in_flight, scheduler.waiting) == (0, 0)


def test_commit_stops_below_the_oldest_unfinished_input() -> None:
    tracker = OffsetTracker()
    first = tracker.begin(TP, 10, parts=2)  # two postbacks
    tracker.begin(TP, 11, parts=0)  # matched nothing: done at once
    third = tracker.begin(TP, 12, parts=1)
    assert tracker.to_commit() == {TP: 10}
    third.finish_part(12)
    first.finish_part(10)
    assert tracker.to_commit() == {TP: 10}  # one of offset 10's attempts is not acknowledged
    first.finish_part(10)
    assert tracker.to_commit() == {TP: 13}
    tracker.committed({TP: 13})
    assert tracker.to_commit() == {}


def test_a_revoked_partition_is_forgotten_and_late_acks_do_not_touch_its_successor() -> None:
    tracker = OffsetTracker()
    old = tracker.begin(TP, 5, parts=1)
    tracker.forget({TP})
    new = tracker.begin(TP, 5, parts=1)  # the partition came back: offset 5 read again
    old.finish_part(5)  # the first reading's attempt is acknowledged late
    assert tracker.to_commit() == {TP: 5}
    new.finish_part(5)
    assert tracker.to_commit() == {TP: 6}


def test_one_account_bounds_pending_outputs_and_holds_abandoned_inputs() -> None:
    tracker = OffsetTracker(max_pending=3)
    first = tracker.begin(TP, 0, parts=2)
    second = tracker.begin(TP, 1, parts=1)
    assert (tracker.pending, tracker.full, tracker.room_left) == (3, True, 0)
    first.add_part(0)  # a retry planned: one more output, past the bound
    tracker.room.clear()
    first.finish_part(0)
    assert tracker.full  # 3 of 3: still no room
    first.abandon_part(0)  # the retry's wait abandoned: no longer pending, never finished
    assert (tracker.pending, tracker.room.is_set()) == (2, True)
    first.finish_part(0)
    second.finish_part(1)
    assert tracker.pending == 0
    assert tracker.to_commit() == {TP: 0}  # offset 0 is held for good: consumed again


def test_a_late_answer_for_a_forgotten_partition_still_frees_its_room() -> None:
    tracker = OffsetTracker(max_pending=1)
    old = tracker.begin(TP, 5, parts=1)
    tracker.forget({TP})
    assert tracker.full
    old.finish_part(5)
    assert (tracker.pending, tracker.full) == (0, False)


def test_an_output_cannot_end_twice_or_for_an_input_that_is_done() -> None:
    tracker = OffsetTracker(max_pending=2)
    progress = tracker.begin(TP, 0, parts=1)
    progress.finish_part(0)
    with pytest.raises(KeyError):
        progress.abandon_part(0)  # offset 0 is done: nothing left to abandon
    with pytest.raises(KeyError):
        progress.finish_part(0)
    assert (tracker.pending, tracker.to_commit()) == (0, {TP: 1})
    held = tracker.begin(TP, 1, parts=1)
    held.abandon_part(1)
    with pytest.raises(RuntimeError, match="not pending"):
        held.abandon_part(1)  # the one output, abandoned again: the count stays right
    assert tracker.pending == 0
