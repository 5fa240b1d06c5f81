"""SQL text shared by every backend, in a module that imports no engine.

Pinned settings make every backend and ClickHouse version answer alike (chDB's defaults differ
from a server's): numbers as JSON numbers, times as RFC 3339 UTC ("2026-11-28T01:02:03.456Z"),
and rows accepted with RFC 3339 times as pydantic writes them ("...T01:02:03.456789Z").
"""

JSON_SETTINGS = (
    "output_format_json_quote_64bit_integers=0, output_format_json_quote_decimals=0, "
    "date_time_output_format='iso'"
)
INSERT_SETTINGS = "date_time_input_format='best_effort'"
