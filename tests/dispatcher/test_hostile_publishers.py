"""Each hostile publisher, a real server on loopback, classified in plain words (issue 4 item 7).

Names resolve through an injected resolver (StaticResolver): no lookup and no connection ever
leaves the machine. The timeouts tested are a few hundred ms so the whole module takes
seconds.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import trustme

from dispatcher.attempt import Attempt
from dispatcher.delivery import Deliverer
from dispatcher.guard import LOOPBACK, DestinationGuard, parse_networks
from dispatcher.http1 import ANSWER_LIMIT, HEAD_LIMIT, INTERIM_LIMIT, LOCATION_LIMIT
from dispatcher.http_client import PostbackHttpClient
from dispatcher.resolver import StaticResolver
from postbacks import topics
from postbacks.attempts import SERVER_RESPONSE_LIMIT, TEXT_LIMITS, TRUNCATION_MARK, AttemptRecord
from postbacks.configs import PostbackConfig
from postbacks.inputs import parse_input
from tests.dispatcher import hostile
from tests.dispatcher.configs import stamped

NAMES = {
    "pub.test": ["127.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "intranet.test": ["10.0.0.7"],
    "mixed.test": ["127.0.0.1", "192.168.1.1"],
}
CA = trustme.CA()


# The timeout of the tests that do not test it: generous, so that a pause of the test process (a
# full garbage collection on a busy machine can take hundreds of ms) is not a timeout.
ROOMY_TIMEOUT_MS = 3000


def config(url: str, timeout_ms: int = ROOMY_TIMEOUT_MS, **fields: Any) -> PostbackConfig:
    return stamped(**{"name": "hostile", "url": url, "timeout_ms": timeout_ms, **fields})


MESSAGE = parse_input(
    topics.CONVERSIONS, orjson.dumps({"transaction_id": "t-1", "offer_id": 1, "publisher_id": 2})
)


@pytest.fixture
async def deliverer() -> AsyncIterator[Deliverer]:
    trusted = CA.cert_pem.bytes()
    client = PostbackHttpClient(
        DestinationGuard(parse_networks(LOOPBACK)), StaticResolver(NAMES), extra_ca_pem=trusted
    )
    yield Deliverer(client)
    await client.close()


async def fire(deliverer: Deliverer, url: str, **fields: Any) -> Attempt:
    attempt = (await deliverer.send(config(url, **fields), MESSAGE)).attempt
    # Records are built without validation on the hot path; the log-writer validates them.
    # What goes on the topic is the contract's JSON, and decodes to the same attempt.
    assert AttemptRecord.model_validate_json(attempt.to_json()) == attempt.record()
    return attempt


def assert_failed(attempt: Attempt, starts: str) -> None:
    assert (attempt.status, attempt.response_code) == ("Failed", 0), attempt
    assert attempt.error.startswith(starts), attempt.error


async def test_a_healthy_publisher_gets_the_attempt_id_and_succeeds(deliverer: Deliverer) -> None:
    async with hostile.serve(hostile.healthy) as server:
        attempt = await fire(deliverer, f"http://pub.test:{server.port}/pb")
    assert (attempt.status, attempt.response_code, attempt.server_response) == (
        "Success",
        200,
        "ok",
    )
    assert attempt.error == ""


async def test_a_server_that_hangs_is_a_timeout_after_the_configured_ms(
    deliverer: Deliverer,
) -> None:
    async with hostile.serve(hostile.hangs) as server:
        attempt = await fire(deliverer, f"http://pub.test:{server.port}/pb", timeout_ms=300)
    assert_failed(
        attempt, f"timeout: no complete response from pub.test:{server.port} within 300 ms"
    )
    assert 250 <= attempt.latency_ms < 2000


async def test_a_server_that_drips_its_body_cannot_hold_past_the_total_timeout(
    deliverer: Deliverer,
) -> None:
    async with hostile.serve(hostile.drips) as server:
        attempt = await fire(deliverer, f"http://pub.test:{server.port}/pb", timeout_ms=300)
    assert_failed(attempt, "timeout: no complete response")
    assert server.bytes_sent <= 1  # one byte a second: the answer never completed


async def test_hang_and_drip_time_out_on_the_hot_path_of_an_approved_address(
    deliverer: Deliverer,
) -> None:
    # The first request to a host resolves and judges it under an asyncio timeout; later ones
    # reuse the approved address with no lookup, and once connected, the connection's own
    # timer (call_at the total deadline) is all that stops a hang or a drip.
    async with hostile.serve(hostile.healthy) as ok, hostile.serve(hostile.drips) as drip:
        for port in (ok.port, drip.port):
            await fire(deliverer, f"http://pub.test:{port}/warm", timeout_ms=300)
        async with hostile.serve(hostile.hangs) as hang:
            await fire(deliverer, f"http://pub.test:{hang.port}/warm", timeout_ms=300)
            hung = await fire(deliverer, f"http://pub.test:{hang.port}/pb", timeout_ms=300)
        dripped = await fire(deliverer, f"http://pub.test:{drip.port}/pb", timeout_ms=300)
    for attempt in (hung, dripped):
        assert_failed(attempt, "timeout: no complete response")
        assert 250 <= attempt.latency_ms < 2000


async def test_a_100_mb_body_is_read_to_4_kib_and_the_connection_dropped(
    deliverer: Deliverer,
) -> None:
    async with hostile.serve(hostile.huge_body) as server:
        attempt = await fire(deliverer, f"http://pub.test:{server.port}/pb", timeout_ms=2000)
    assert (attempt.status, attempt.response_code) == ("Success", 200)
    assert attempt.server_response == "y" * SERVER_RESPONSE_LIMIT + TRUNCATION_MARK
    # The server could push only what socket buffers hold before the client hung up.
    assert server.bytes_sent < 20 * 1024 * 1024, server.bytes_sent


# What one answer that never ends can make the client hold, whatever part of it never ends: the
# server is cut off after ANSWER_LIMIT bytes (or the head limit) and can push no more than the
# socket buffers take. Unbounded, the client would read for the whole 5 s timeout.
SENT_AT_MOST = 20 * 1024 * 1024
TOO_LONG = f"the answer exceeds {ANSWER_LIMIT} bytes and has not ended"


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        (hostile.endless_trailer, TOO_LONG),
        (hostile.big_head_then_endless_trailers, TOO_LONG),
        (hostile.endless_chunk_extension, TOO_LONG),
        (hostile.endless_padded_tiny_chunks, TOO_LONG),
        (hostile.endless_interim_answers, f"more than {INTERIM_LIMIT} interim (1xx) answers"),
        (hostile.endless_reason_phrase, f"the status line and headers exceed {HEAD_LIMIT} bytes"),
    ],
    ids=[
        "trailer",
        "60-kib-head-then-trailers",
        "chunk-extension",
        "padded-tiny-chunks",
        "100-continue-forever",
        "reason-phrase",
    ],
)
async def test_an_answer_that_never_ends_is_cut_at_its_size_limit(
    deliverer: Deliverer, server: hostile.Handler, reason: str
) -> None:
    async with hostile.serve(server) as publisher:
        attempt = await fire(deliverer, f"http://pub.test:{publisher.port}/pb", timeout_ms=5000)
    assert_failed(attempt, "invalid HTTP response")
    assert attempt.error == f"invalid HTTP response from pub.test:{publisher.port}: {reason}"
    assert attempt.latency_ms < 2500, attempt.latency_ms  # cut by its size, not by the timeout
    assert publisher.bytes_sent < SENT_AT_MOST, publisher.bytes_sent


async def test_a_body_of_endless_1_byte_chunks_is_read_to_4_kib_and_dropped(
    deliverer: Deliverer,
) -> None:
    # 6 bytes of framing per byte of body: the body cap comes first, as for any long body.
    async with hostile.serve(hostile.endless_tiny_chunks) as publisher:
        attempt = await fire(deliverer, f"http://pub.test:{publisher.port}/pb", timeout_ms=5000)
    assert (attempt.status, attempt.response_code) == ("Success", 200)
    assert attempt.server_response == "x" * SERVER_RESPONSE_LIMIT + TRUNCATION_MARK
    assert publisher.bytes_sent < SENT_AT_MOST, publisher.bytes_sent


async def test_trailers_dripped_a_byte_at_a_time_end_at_the_timeout(deliverer: Deliverer) -> None:
    async with hostile.serve(hostile.drips_trailers) as publisher:
        attempt = await fire(deliverer, f"http://pub.test:{publisher.port}/pb", timeout_ms=300)
    assert_failed(attempt, f"timeout: no complete response from pub.test:{publisher.port}")
    assert 250 <= attempt.latency_ms < 2000
    assert publisher.bytes_sent <= 4  # one byte every 100 ms: the trailer never completed


async def test_a_huge_location_is_cut_in_the_error_of_the_redirect(deliverer: Deliverer) -> None:
    location = b"/" + b"l" * (60 * 1024)  # within the head limit
    answer = b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n"
    async with hostile.serve(hostile.answering(answer)) as publisher:
        attempt = await fire(deliverer, f"http://pub.test:{publisher.port}/pb")
    assert (attempt.status, attempt.response_code) == ("Failed", 302), attempt.error
    shown = location[:LOCATION_LIMIT].decode() + TRUNCATION_MARK
    assert attempt.error == f"HTTP 302 redirect to {shown} (redirects are not followed)"
    assert len(attempt.error) <= TEXT_LIMITS["error"]


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"\xff\xfe caf\xe9 \x00\x80", "\ufffd\ufffd caf\ufffd \x00\ufffd"),
        # Cut at the cap in the middle of a 2-byte character: replaced, then marked as cut.
        (
            b"a" * (SERVER_RESPONSE_LIMIT - 1) + "é".encode() + b"z" * 10,
            "a" * (SERVER_RESPONSE_LIMIT - 1) + "\ufffd" + TRUNCATION_MARK,
        ),
    ],
    ids=["invalid-bytes-and-nul", "cut-mid-character"],
)
async def test_a_body_that_is_not_utf_8_is_kept_with_replacement_characters(
    deliverer: Deliverer, body: bytes, shown: str
) -> None:
    answer = b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    async with hostile.serve(hostile.answering(answer)) as publisher:
        attempt = await fire(deliverer, f"http://pub.test:{publisher.port}/pb")
    assert (attempt.status, attempt.response_code) == ("Failed", 500)
    assert attempt.server_response == shown


async def test_a_redirect_loop_is_one_failed_request_naming_the_target(
    deliverer: Deliverer,
) -> None:
    async with hostile.serve(hostile.redirect_loop) as server:
        attempt = await fire(deliverer, f"http://pub.test:{server.port}/pb")
    assert (attempt.status, attempt.response_code) == ("Failed", 302), attempt.error
    assert attempt.error == "HTTP 302 redirect to /loop?again=1 (redirects are not followed)"
    assert server.requests == 1


async def test_garbage_instead_of_http_is_an_invalid_response(deliverer: Deliverer) -> None:
    async with hostile.serve(hostile.garbage) as server:
        attempt = await fire(deliverer, f"http://pub.test:{server.port}/pb")
    assert_failed(attempt, f"invalid HTTP response from pub.test:{server.port}")


async def test_a_reset_mid_response_is_a_connection_reset(deliverer: Deliverer) -> None:
    async with hostile.serve(hostile.resets) as server:
        attempt = await fire(deliverer, f"http://pub.test:{server.port}/pb")
    assert_failed(attempt, f"connection reset by pub.test:{server.port}")


async def test_an_untrusted_certificate_is_a_tls_failure_with_the_reason(
    deliverer: Deliverer,
) -> None:
    untrusted = trustme.CA()  # not the CA the client was given
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    untrusted.issue_cert("pub.test").configure_cert(context)
    async with hostile.serve(hostile.healthy, tls=context) as server:
        attempt = await fire(deliverer, f"https://pub.test:{server.port}/pb")
    assert_failed(attempt, f"TLS failure with pub.test:{server.port}: ")
    assert "certificate" in attempt.error.lower()


async def test_a_trusted_certificate_works_through_the_pinned_address(
    deliverer: Deliverer,
) -> None:
    # The control for the test above: same server, a CA the client trusts, the name checked
    # against the certificate although the connection goes to the address the guard approved.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CA.issue_cert("pub.test").configure_cert(context)
    async with hostile.serve(hostile.healthy, tls=context) as server:
        attempt = await fire(deliverer, f"https://pub.test:{server.port}/pb")
    assert (attempt.status, attempt.response_code) == ("Success", 200), attempt.error


async def test_an_unresolvable_host_is_a_dns_failure(deliverer: Deliverer) -> None:
    attempt = await fire(deliverer, "http://nowhere.test/pb")
    assert_failed(attempt, "DNS failure: could not resolve host nowhere.test")


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("metadata.test", "169.254.169.254 is a cloud metadata address"),
        ("intranet.test", "10.0.0.7 is a private address"),
        ("mixed.test", "192.168.1.1 is a private address"),
        ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("[fd00:ec2::254]", "fd00:ec2::254 is a cloud metadata address"),
    ],
)
async def test_a_name_resolving_to_a_refused_address_is_refused_by_the_guard(
    deliverer: Deliverer, host: str, reason: str
) -> None:
    attempt = await fire(deliverer, f"http://{host}/pb")
    assert_failed(attempt, "destination refused by the guard: ")
    assert reason in attempt.error


async def test_loopback_is_refused_unless_allowed() -> None:
    client = PostbackHttpClient(DestinationGuard(), StaticResolver(NAMES))
    async with hostile.serve(hostile.healthy) as server:
        outcome = await Deliverer(client).send(config(f"http://pub.test:{server.port}/pb"), MESSAGE)
        attempt = outcome.attempt
    await client.close()
    assert_failed(attempt, "destination refused by the guard: pub.test resolves to 127.0.0.1")
    assert server.requests == 0


async def test_a_closed_port_is_a_refused_connection(deliverer: Deliverer) -> None:
    port = hostile.closed_port()
    attempt = await fire(deliverer, f"http://pub.test:{port}/pb")
    assert_failed(attempt, f"connection refused by pub.test:{port}")


async def test_a_full_accept_queue_is_a_connect_timeout(deliverer: Deliverer) -> None:
    with hostile.unaccepted_port() as port:
        attempt = await fire(
            deliverer, f"http://pub.test:{port}/pb", timeout_ms=1000, connect_timeout_ms=200
        )
    assert_failed(attempt, f"timeout: could not connect to pub.test:{port} within 200 ms")
