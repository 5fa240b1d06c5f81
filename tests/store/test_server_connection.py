"""How a service reaches a ClickHouse server: account and TLS settings as clickhouse-connect uses
them, waiting for a server that is not up, refusing one that refuses us, naming the setting.

Real HTTP and real TLS: the HTTP front over chDB (tests/store/clickhouse_http_front.py), given
a certificate from a test CA (trustme) and accounts to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme

from postbacks.settings import CommonSettings
from postbacks.startup import Misconfigured
from postbacks.store.migration import migrate
from postbacks.store.opening import open_store, ready_store, wait_for_server
from tests.store.clickhouse_http_front import ClickHouseHttpFront

PASSWORD = "s3cret:/@ pass"
ACCOUNTS = {"writer": PASSWORD}
CA = trustme.CA()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    client = CA.issue_cert("writer")
    files = {
        "ca": folder / "ca.pem",
        "cert": folder / "client.pem",
        "key": folder / "client.key",
        "both": folder / "client-and-key.pem",
    }
    CA.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["both"]))
    return files


def _server_context(*, client_certificates: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CA.issue_cert("127.0.0.1").configure_cert(context)
    if client_certificates:
        CA.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
        # TLS 1.2 refuses a missing client certificate inside the handshake. Under TLS 1.3 the
        # alert comes after the client's handshake has finished and races its request: a reset
        # can read as an EOF, which the service waits out (the log names the certificate).
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def _front(chdb_dir: Path, **options: Any) -> Iterator[ClickHouseHttpFront]:
    front = ClickHouseHttpFront(chdb_dir, **options)
    front.start()
    yield front
    front.stop()


@pytest.fixture(scope="module")
def with_accounts(chdb_dir: Path) -> Iterator[ClickHouseHttpFront]:
    yield from _front(chdb_dir, accounts=ACCOUNTS)


@pytest.fixture(scope="module")
def with_tls(chdb_dir: Path) -> Iterator[ClickHouseHttpFront]:
    yield from _front(chdb_dir, tls=_server_context(client_certificates=False), accounts=ACCOUNTS)


@pytest.fixture(scope="module")
def with_mutual_tls(chdb_dir: Path) -> Iterator[ClickHouseHttpFront]:
    context = _server_context(client_certificates=True)
    yield from _front(chdb_dir, tls=context, accounts=ACCOUNTS)


def _settings(front: ClickHouseHttpFront, **values: object) -> CommonSettings:
    database = f"test_{uuid.uuid4().hex[:12]}"
    return CommonSettings.model_validate(
        {"clickhouse_url": front.url, "clickhouse_database": database, **values}
    )


async def _signs_in(settings: CommonSettings) -> None:
    """Migrates (as `postbacks migrate` does), then starts as a service does."""
    store = open_store(settings)
    try:
        await migrate(store)
        await ready_store(store, settings)
    finally:
        await store.execute(f"DROP DATABASE IF EXISTS {store.database}")
        await store.close()


async def _refusal(settings: CommonSettings) -> Misconfigured:
    store = open_store(settings)
    try:
        with pytest.raises(Misconfigured) as refused:
            # Refused at once: a refusal is not waited out.
            await asyncio.wait_for(ready_store(store, settings), 10)
    finally:
        await store.close()
    return refused.value


async def test_user_and_password_win_over_the_urls(with_accounts: ClickHouseHttpFront) -> None:
    url = f"http://writer:wrong@{with_accounts.host}:{with_accounts.port}/"
    settings = _settings(
        with_accounts,
        clickhouse_url=url,
        clickhouse_user="writer",
        clickhouse_password=PASSWORD,
    )
    with_accounts.signed_in.clear()
    await _signs_in(settings)
    assert set(with_accounts.signed_in) == {("writer", "password")}


async def test_a_refused_password_names_the_account_settings(
    with_accounts: ClickHouseHttpFront, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://writer:wrong@{with_accounts.host}:{with_accounts.port}/"
    refused = await _refusal(_settings(with_accounts, clickhouse_url=url))
    assert "ClickHouse refused the account" in refused.problem
    assert "AUTHENTICATION_FAILED" in refused.problem
    assert "POSTBACKS_CLICKHOUSE_PASSWORD" in refused.setting
    assert "CLICKHOUSE_URL" in refused.setting
    assert "wrong" not in str(refused) + caplog.text


async def test_tls_with_the_ca_file(
    with_tls: ClickHouseHttpFront, tls_files: dict[str, Path]
) -> None:
    settings = _settings(
        with_tls,
        clickhouse_user="writer",
        clickhouse_password=PASSWORD,
        clickhouse_ca_file=tls_files["ca"],
    )
    await _signs_in(settings)


async def test_a_server_certificate_not_verified_names_the_ca_file(
    with_tls: ClickHouseHttpFront,
) -> None:
    # No CA file: the system's CAs, which did not sign the test server's certificate.
    refused = await _refusal(
        _settings(with_tls, clickhouse_user="writer", clickhouse_password=PASSWORD)
    )
    assert "TLS with ClickHouse failed" in refused.problem
    assert "CERTIFICATE_VERIFY_FAILED" in refused.problem
    assert refused.setting.startswith("POSTBACKS_CLICKHOUSE_CA_FILE")


@pytest.mark.parametrize("key", ["separate", "in the certificate file"])
async def test_a_client_certificate_opens_the_connection_and_the_password_signs_in(
    with_mutual_tls: ClickHouseHttpFront, tls_files: dict[str, Path], key: str
) -> None:
    files = (
        {"clickhouse_cert_file": tls_files["cert"], "clickhouse_key_file": tls_files["key"]}
        if key == "separate"
        else {"clickhouse_cert_file": tls_files["both"]}
    )
    with_mutual_tls.signed_in.clear()
    await _signs_in(
        _settings(
            with_mutual_tls,
            clickhouse_user="writer",
            clickhouse_password=PASSWORD,
            clickhouse_ca_file=tls_files["ca"],
            **files,
        )
    )
    assert set(with_mutual_tls.signed_in) == {("writer", "password")}


async def test_without_a_password_the_client_certificate_signs_in(
    with_mutual_tls: ClickHouseHttpFront, tls_files: dict[str, Path]
) -> None:
    with_mutual_tls.signed_in.clear()
    await _signs_in(
        _settings(
            with_mutual_tls,
            clickhouse_user="writer",
            clickhouse_ca_file=tls_files["ca"],
            clickhouse_cert_file=tls_files["cert"],
            clickhouse_key_file=tls_files["key"],
        )
    )
    assert set(with_mutual_tls.signed_in) == {("writer", "certificate")}


async def test_no_client_certificate_where_one_is_required_is_a_tls_refusal(
    with_mutual_tls: ClickHouseHttpFront, tls_files: dict[str, Path]
) -> None:
    refused = await _refusal(
        _settings(
            with_mutual_tls,
            clickhouse_user="writer",
            clickhouse_password=PASSWORD,
            clickhouse_ca_file=tls_files["ca"],
        )
    )
    assert "TLS with ClickHouse failed" in refused.problem
    assert "POSTBACKS_CLICKHOUSE_CERT_FILE" in refused.setting


async def test_a_server_not_up_yet_is_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = CommonSettings.model_validate(
        {"clickhouse_url": f"http://writer:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/"}
    )
    store = open_store(settings)
    with caplog.at_level(logging.WARNING, "postbacks.startup"), pytest.raises(TimeoutError):
        await asyncio.wait_for(wait_for_server(store, settings), 2)
    await store.close()
    waits = [r.getMessage() for r in caplog.records if r.name == "postbacks.startup"]
    assert waits, "no wait was logged"
    assert all(
        f"waiting for ClickHouse at http://127.0.0.1:{port}/ (CLICKHOUSE_URL)" in w for w in waits
    )
    assert quote(PASSWORD, safe="") not in caplog.text


async def test_a_tls_handshake_cut_off_is_waited_for_not_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A server or load balancer restarting drops the connection mid-handshake (an SSLEOFError):
    # no setting of ours is wrong, so the service waits.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def cut_off() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                connection.recv(4096)  # the ClientHello
                connection.close()

    threading.Thread(target=cut_off, daemon=True).start()
    settings = CommonSettings.model_validate({"clickhouse_url": f"https://127.0.0.1:{port}/"})
    store = open_store(settings)
    try:
        with caplog.at_level(logging.WARNING, "postbacks.startup"), pytest.raises(TimeoutError):
            await asyncio.wait_for(wait_for_server(store, settings), 2)
    finally:
        await store.close()
        listener.close()
    waits = [r.getMessage() for r in caplog.records if r.name == "postbacks.startup"]
    assert waits, "no wait was logged"
    assert "EOF" in waits[0], waits[0]
    assert "POSTBACKS_CLICKHOUSE_CERT_FILE" in waits[0]
