from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from postbacks import clock

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_now_is_utc_cut_to_milliseconds_and_current() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    now = clock.now_ms()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0
    assert before <= now <= after


def _exact(ms: int) -> bool:
    return datetime.fromtimestamp(ms / 1000, UTC) == _EPOCH + timedelta(milliseconds=ms)


# now_ms divides whole milliseconds by 1000 as a float: it must never land a microsecond off.
@given(st.integers(min_value=0, max_value=7_258_118_400_000))  # 1970 to 2200
def test_any_millisecond_converts_exactly(ms: int) -> None:
    assert _exact(ms)


def test_every_millisecond_of_eight_minutes_converts_exactly() -> None:
    start = 1_795_000_000_000  # 2026-11-18
    assert all(_exact(ms) for ms in range(start, start + 500_000))
