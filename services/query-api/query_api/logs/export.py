"""The attempt log as CSV: every row a log query selects, newest first, in constant memory.

Rows are read a page at a time through `read_logs` and its keyset cursor, so the export sees
the same rows, in the same order, as paging through `GET /api/v1/logs` would (and inherits the
same filters, time window and limits); only one page is ever held in memory. Attempts written
while an export runs are newer than its cursor and so are left out: the export is the log as it
stood when its first page was read.

The file is for people opening it in a spreadsheet: UTF-8 with a byte order mark (so Excel
does not read it as a legacy code page), RFC 4180 quoting by the stdlib csv module (CRLF line
ends; fields with a comma, quote, CR or LF quoted, quotes doubled), and spreadsheet formula
injection defused. Several cells hold text from outside (the publisher's server response, the
URL, the transaction ID). Excel, LibreOffice and Google Sheets can run a cell as a formula when
it starts with `=`, `+`, `-`, `@`, tab or CR (OWASP's list), `|`, `%` or the full-width forms of
`= + - @` (which other guidance adds), and also when such a character follows blanks or control
characters a spreadsheet drops on import. So a cell starting with a formula character, or with any
whitespace or control character, gets a leading `'` (OWASP's advice), which spreadsheets read as
"this is text" and hide. Only those cells change; a program that needs the exact values should
read the JSON API instead.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from postbacks.attempts import FIELDS
from query_api.logs.cursor import decode_cursor
from query_api.logs.filters import LogQuery
from query_api.logs.reader import LogStore, read_logs

# Heading -> field of a log item: the labelled fields of the record's table, the time first as
# on the Logs page.
COLUMNS: dict[str, str] = {
    f.column.label: f.name
    for f in sorted(FIELDS, key=lambda f: f.name != "attempted_at")
    if f.column.label
}
PAGE_SIZE = 5000
# What a formula starts with; a leading whitespace or control character counts too (_may_run).
FORMULA_CHARACTERS = frozenset("=+-@|%\uff1d\uff0b\uff0d\uff20")  # full-width = + - @ last
_BOM = "\ufeff"


async def export_csv(
    store: LogStore, query: LogQuery, page_size: int = PAGE_SIZE
) -> AsyncIterator[bytes]:
    """UTF-8 CSV of every attempt `query` selects (its limit and cursor ignored), newest first.

    One chunk per page of `page_size` rows. The first chunk (byte order mark, header row and
    the first page) comes only once the first page is read, so an error in the query or the
    store surfaces before any byte is produced.
    """
    page_query = replace(query, limit=page_size, cursor=None)
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # the excel dialect: RFC 4180 quoting, CRLF line ends
    buffer.write(_BOM)
    writer.writerow(list(COLUMNS))
    while True:
        page = await read_logs(store, page_query)
        writer.writerows([_cell(item[field]) for field in COLUMNS.values()] for item in page.items)
        chunk = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        yield chunk
        if page.next_cursor is None:
            return
        page_query = replace(page_query, cursor=decode_cursor(page.next_cursor))


async def start_export(
    store: LogStore, query: LogQuery, page_size: int = PAGE_SIZE
) -> AsyncIterator[bytes]:
    """`export_csv` with its first page already read, for a response that has not started.

    Awaiting this raises whatever reading the first page raises, while an error response can
    still be sent; the iterator it returns then yields every chunk, the first one included.
    """
    chunks = export_csv(store, query, page_size)
    first = await anext(chunks)

    async def resumed() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return resumed()


def export_filename(now: datetime) -> str:
    """The download's file name for an export started at `now`, e.g.
    postbacks-logs-20261128T010203Z.csv."""
    return f"postbacks-logs-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.csv"


def _cell(value: Any) -> Any:
    # Numbers pass as they are: every numeric column is unsigned, so none starts with '-'.
    if isinstance(value, str) and _may_run(value):
        return "'" + value
    return value


def _may_run(text: str) -> bool:
    """Whether a spreadsheet might read `text` as a formula."""
    # Any leading blank or control character, not only the tab and CR OWASP names: which ones a
    # spreadsheet skips before a formula differs by program and import option, and quoting a
    # cell that starts with one costs nothing but a hidden `'`.
    first = text[:1]
    return bool(first) and (first in FORMULA_CHARACTERS or _blank_or_control(first))


def _blank_or_control(character: str) -> bool:
    # Cc: C0 and C1 controls and DEL; Cf: invisible format characters (zero-width space, BOM).
    return character.isspace() or unicodedata.category(character) in ("Cc", "Cf")
