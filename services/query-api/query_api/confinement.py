"""What a token confined to some publishers (and offers) may see and change.

A token of POSTBACKS_API_TOKENS may carry `publisher_ids` and `offer_ids` (auth.py). Under it:

- a log query gets one more filter per confined column, ANDed with the request's own filters
  (`publisher_id IN (42, 43)`), so a request can narrow the confinement but never widen it;
- and one more on the configuration: only the attempts of configurations that belong (or last
  belonged, if deleted) to its publishers. An attempt of a network-wide configuration ("any
  publisher") for publisher 42 is not shown to 42: its URL and the answer it got are the
  network's, and a `url__contains` search would read them out;
- one attempt, one configuration or one re-fire job outside it answers 404, as an id that does
  not exist does, so its existence is not confirmed;
- a configuration it writes must name one of its publishers (and offers): "any publisher" would
  fire for everyone's conversions.

A token without them (and every request when the API is open) is UNCONFINED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from query_api.errors import Invalid
from query_api.logs.filters import ColumnFilter, LogQuery

# The columns a token can be confined on, by the key POSTBACKS_API_TOKENS gives them under.
CONFINING_KEYS = {"publisher_ids": "publisher_id", "offer_ids": "offer_id"}
# Matches no configuration: `postback_id IN ()` is not SQL.
_NO_POSTBACK = "00000000-0000-0000-0000-000000000000"


class Scoped(Protocol):
    """A configuration, as far as confinement reads it (None: any publisher, any offer)."""

    @property
    def publisher_id(self) -> int | None: ...
    @property
    def offer_id(self) -> int | None: ...


@dataclass(frozen=True)
class Confinement:
    """The publishers and offers a token is confined to; None: not confined on that column."""

    publisher_ids: frozenset[int] | None = None
    offer_ids: frozenset[int] | None = None
    # The configurations inside, filled in per request (with_postbacks); None: not yet known,
    # which confines only by publisher and offer (re-fire jobs check each configuration).
    postback_ids: frozenset[str] | None = None

    @property
    def confined(self) -> bool:
        return self.publisher_ids is not None or self.offer_ids is not None

    def columns(self) -> dict[str, frozenset[int]]:
        """Column -> the values it may hold, for the confined columns only."""
        limits = {"publisher_id": self.publisher_ids, "offer_id": self.offer_ids}
        return {column: ids for column, ids in limits.items() if ids is not None}

    def with_postbacks(self, owners: Iterable[tuple[str, int | None, int | None]]) -> Confinement:
        """This confinement, knowing its configurations: `owners` are (id, publisher_id,
        offer_id) of every configuration, deleted ones with their last owner."""
        if not self.confined:
            return self
        inside = frozenset(
            postback_id
            for postback_id, publisher_id, offer_id in owners
            if self.admits_config(_Owner(publisher_id, offer_id))
        )
        return replace(self, postback_ids=inside)

    def query(self, query: LogQuery) -> LogQuery:
        """`query` with the confinement added as filters of its own (intersected, not merged
        into the request's `publisher_id=` values, which would widen it)."""
        added = tuple(
            ColumnFilter(column, "is", tuple(sorted(ids))) for column, ids in self.columns().items()
        )
        if self.postback_ids is not None:
            postbacks = tuple(sorted(self.postback_ids)) or (_NO_POSTBACK,)
            added += (ColumnFilter("postback_id", "is", postbacks),)
        return replace(query, filters=query.filters + added) if added else query

    def outside(self, row: Mapping[str, Any]) -> list[str]:
        """The confined columns whose value in `row` (an attempt, an input) is not admitted."""
        return [
            column for column, ids in self.columns().items() if _as_int(row.get(column)) not in ids
        ]

    def admits(self, row: Mapping[str, Any]) -> bool:
        """Whether an attempt (or anything with publisher_id and offer_id) is inside."""
        if self.postback_ids is not None and str(row.get("postback_id")) not in self.postback_ids:
            return False
        return not self.outside(row)

    def admits_config(self, config: Scoped) -> bool:
        """Whether a configuration is inside: it names one of the publishers (and offers)."""
        return all(getattr(config, column) in ids for column, ids in self.columns().items())

    def covers(self, other: Confinement) -> bool:
        """Whether everything `other` admits, this admits too (a re-fire job's confinement
        against the token asking for it)."""
        theirs = other.columns()
        return all(
            column in theirs and theirs[column] <= ids for column, ids in self.columns().items()
        )

    def check_config(self, config: Scoped) -> None:
        """Refuse (422, naming the field) a configuration this token may not write."""
        details = [
            {"field": column, "message": _outside(column, getattr(config, column), ids)}
            for column, ids in self.columns().items()
            if getattr(config, column) not in ids
        ]
        if details:
            summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
            raise Invalid(summary, details=details)

    def described(self) -> dict[str, list[int] | None]:
        """The confinement as the pages and `GET /api/v1/token` show it."""
        return {
            key: None if ids is None else sorted(ids)
            for key, ids in (("publisher_ids", self.publisher_ids), ("offer_ids", self.offer_ids))
        }


UNCONFINED = Confinement()


@dataclass(frozen=True)
class _Owner:
    publisher_id: int | None
    offer_id: int | None


def _as_int(value: object) -> int | None:
    # Store rows carry UInt64 as int; an input may carry it as decimal text (ASCII digits only:
    # isdigit() alone takes "²", which int() refuses).
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def confined_to(column: str, ids: frozenset[int]) -> str:
    return f"this token is confined to {column} {', '.join(str(i) for i in sorted(ids))}"


def _outside(column: str, value: int | None, ids: frozenset[int]) -> str:
    if value is None:
        return (
            f"{confined_to(column, ids)}, so a configuration it writes must set {column} to "
            f"one of them; leaving it unset would fire for every {column.removesuffix('_id')}"
        )
    return f"{confined_to(column, ids)}; {value} is not one of them"
