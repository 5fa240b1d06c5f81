"""Synthetic attempt log for the query benchmark, generated inside the engine.

One `INSERT ... SELECT ... FROM numbers_mt(N)`: ClickHouse builds every row itself, on every
core, so ten million rows take a minute or two instead of the hours a Python loop through
JSONEachRow would (design §2: 64,000 to 75,000 rows/s). Every
random choice is a hash of the row number (`cityHash64(n, stream)`), so a run is reproducible
except for `attempted_at`, which is placed relative to the time of the run.

Shapes, chosen to look like an affiliate network's log rather than uniform noise:

- publisher_id: Zipf-like over ~2,000 publishers (`floor(2000 ** u)`: rank k gets about
  13 % / k of the rows), so a few publishers are hot and most are small;
- offer_id: the same over ~300 offers; ~5,000 postbacks, each owned by one publisher, with a
  type (70 % Conversion, 15 % Click, 15 % Event), a method and a name;
- failures: 5-20 % depending on the publisher; codes 0 (refused, timeout, reset, DNS),
  404, 500, 502, 503 with the dispatcher's wording of the error;
- transaction_id: 32 hex characters; one conversion in five fires a second postback, so a
  transaction appears in one or two rows a few milliseconds apart;
- url: 150-300 characters with the transaction id, offer, payout, subs and a signature;
- attempted_at: uniform over the `span_hours` before the run.
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLISHERS = 2000
OFFERS = 300
POSTBACKS = 5000
FIRST_PUBLISHER_ID = 1000
FIRST_OFFER_ID = 100


@dataclass(frozen=True)
class Shape:
    rows: int
    now_ms: int
    span_hours: float = 20.0
    threads: int = 2


def _h(expr: str, stream: int) -> str:
    """A 64-bit hash of `expr` for random stream `stream`."""
    return f"cityHash64({expr}, {stream})"


def _u(expr: str, stream: int) -> str:
    """A uniform number in [0, 1) drawn from `expr` on random stream `stream`."""
    return f"({_h(expr, stream)} / 18446744073709551616.0)"


def insert_sql(table: str, shape: Shape) -> str:
    """The one statement that fills `table` (a postback_attempts table) with `shape.rows` rows."""
    span_ms = int(shape.span_hours * 3_600_000)
    # The inner query draws the per-row choices once; the outer one renders the columns.
    # Row n's conversion is n, or n - 1 for one row in five (its second postback).
    inner = f"""
        SELECT
            number AS n,
            toUInt64(if(number % 5 = 1, number - 1, number)) AS conversion,
            {FIRST_PUBLISHER_ID} + toUInt64(floor(pow({PUBLISHERS}, {_u("conversion", 1)})))
                AS pub,
            {FIRST_OFFER_ID} + toUInt64(floor(pow({OFFERS}, {_u("conversion", 2)}))) AS offer,
            (pub * 3 + (n - conversion) + offer % 2) % {POSTBACKS} AS pb,
            multiIf(pb % 20 < 14, 'Conversion', pb % 20 < 17, 'Click', 'Event') AS pb_type,
            lower(hex(sipHash128(conversion))) AS tx,
            concat('postback.pub', toString(pub), '.example') AS host,
            if(pub % 4 = 0, concat(host, ':8443'), host) AS hostport,
            0.05 + 0.15 * ({_h("pub", 3)} % 1000) / 1000 AS fail_rate,
            {_u("n", 4)} < fail_rate AS failed,
            {_h("n", 5)} % 100 AS kind,
            {_h("n", 6)} AS h,
            {_h("n", 7)} % 1000 AS trig,
            toString(round(0.5 + ({_h("conversion", 8)} % 4000) / 100, 2)) AS payout,
            substring(lower(hex(sipHash128(conversion, 'sub1'))), 1, {_h("conversion", 9)} % 33)
                AS sub1,
            substring(lower(hex(sipHash128(conversion, 'sub2'))), 1, {_h("conversion", 10)} % 33)
                AS sub2,
            {shape.now_ms} - 1000 - {_h("conversion", 11)} % {span_ms} + (n - conversion) * 37
                AS at_ms
        FROM numbers_mt({shape.rows})
    """
    code = (
        "if(NOT failed, 200, multiIf(kind < 30, 0, kind < 45, 404, kind < 70, 500, "
        "kind < 88, 502, 503))"
    )
    error = """if(NOT failed, '', multiIf(
            kind < 12, concat('connection refused by ', hostport),
            kind < 22, concat('timeout: no complete response from ', hostport, ' within 5000 ms'),
            kind < 27, concat('connection reset by ', hostport),
            kind < 30, concat('DNS failure: could not resolve host ', host),
            kind < 45, 'HTTP 404 Not Found',
            kind < 70, 'HTTP 500 Internal Server Error',
            kind < 88, 'HTTP 502 Bad Gateway',
            'HTTP 503 Service Unavailable'))"""
    server_response = """if(NOT failed,
            arrayElement(['OK', '{"status":"ok","duplicate":false}', '1', 'success',
                          'accepted'], 1 + h % 5),
            multiIf(kind < 30, '',
                    kind < 45, '<html><head><title>404</title></head><body>Not Found</body></html>',
                    kind < 70, 'Internal Server Error',
                    kind < 88, '<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>',
                    'Service Temporarily Unavailable'))"""
    url = """concat('https://', hostport, '/',
            arrayElement(['postback', 'api/v2/conversions/track', 'cb/s2s/notify'], 1 + pb % 3),
            '?click_id=', tx, '&offer_id=', toString(offer), '&aff_id=', toString(pub),
            '&payout=', payout, '&currency=USD&status=approved',
            '&sub1=', sub1, '&sub2=', sub2,
            '&ts=', toString(intDiv(at_ms, 1000)),
            '&sig=', lower(hex(sipHash64(tx, pub))))"""
    latency = """toUInt32(if(failed AND kind < 12, 1 + h % 5,
            if(failed AND kind < 22, 5000 + h % 20,
            15 + h % 250 + if(h % 50 = 0, intDiv(h, 50) % 4000, 0))))"""
    source = """concat('{"transaction_id":"', tx, '","offer_id":', toString(offer),
            ',"publisher_id":', toString(pub), ',"status":"approved","payout":"', payout,
            '","currency":"USD","sub1":"', sub1, '","sub2":"', sub2, '"}')"""
    return f"""
        INSERT INTO {table}
            (attempt_id, attempted_at, status, postback_id, postback_name, postback_type,
             offer_id, publisher_id, event_id, transaction_id, response_code, url, method,
             error, server_response, latency_ms, trigger, refire_of, source)
        SELECT
            generateUUIDv4(n),
            fromUnixTimestamp64Milli(toInt64(at_ms), 'UTC'),
            if(failed, 'Failed', 'Success'),
            reinterpretAsUUID(sipHash128('postback', pb)),
            concat('Publisher ', toString(pub), ' ', pb_type, ' ',
                   arrayElement(['S2S', 'Global', 'iOS', 'Android', 'Tier 1'], 1 + pb % 5),
                   ' #', toString(pb)),
            pb_type,
            offer,
            pub,
            if(pb_type = 'Event', toString(1 + {_h("n", 12)} % 12), ''),
            tx,
            toUInt16({code}),
            {url},
            if(pb % 7 = 0, 'POST', 'GET'),
            {error},
            {server_response},
            {latency},
            multiIf(trig < 8, 'refire', trig < 10, 'test', 'auto'),
            if(trig < 8, reinterpretAsUUID(sipHash128('refire', n)), NULL),
            {source}
        FROM ({inner})
        SETTINGS max_insert_threads = {shape.threads}
    """
