"""Every Kafka client over TLS, with and without a client certificate; refusals named at start.

A conversion produced on Kafka goes through the dispatcher to a local receiver, its attempt
through Kafka and the log-writer into ClickHouse (chDB), and back through the query-api: every
client of every service (librdkafka's and aiokafka's) on the secured connection. The start-up
probes of both libraries refuse a wrong CA, a missing client certificate and a wrong SASL
password naming the variable, and wait for a broker that is not there yet.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import SecretStr

from dispatcher import kafka_probe as dispatcher_probe
from postbacks import kafka_probe
from postbacks.embedded_broker import EmbeddedBroker, free_port
from postbacks.kafka_connection import CA_FILE, CERT_FILE, PASSWORD, PROTOCOL, KafkaConnection
from postbacks.startup import Misconfigured
from tests.e2e.messages import conversion
from tests.e2e.receivers import Receiver
from tests.e2e.secured_kafka import Certificates, make_certificates, need_stunnel, tls_kafka
from tests.e2e.system import pipeline
from tests.waiting import ceiling, until

POSTBACKS = Path(sys.executable).with_name("postbacks")
Probe = Callable[[KafkaConnection], Awaitable[None]]
# Both start-up probes: aiokafka's (log-writer, query-api, the dispatcher's configurations) and
# librdkafka's (the dispatcher's inputs and attempts), each reading the files itself.
PROBES: dict[str, Probe] = {
    "aiokafka": kafka_probe.wait_for_kafka,
    "librdkafka": dispatcher_probe.wait_for_librdkafka,
}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    need_stunnel()
    return make_certificates(tmp_path_factory.mktemp("kafka-tls"))


@pytest.fixture(scope="module")
def tls_only(certificates: Certificates) -> Iterator[KafkaConnection]:
    with tls_kafka(certificates, client_certificate=False) as kafka:
        yield kafka


@pytest.fixture(scope="module")
def mutual_tls(certificates: Certificates) -> Iterator[KafkaConnection]:
    with tls_kafka(certificates, client_certificate=True) as kafka:
        yield kafka


@pytest.mark.parametrize("secured", ["tls_only", "mutual_tls"])
async def test_a_conversion_goes_through_every_client_over_tls(
    secured: str, request: pytest.FixtureRequest, chdb_dir: Path, publisher_server: Receiver
) -> None:
    kafka: KafkaConnection = request.getfixturevalue(secured)
    publisher = {"tls_only": 910, "mutual_tls": 911}[secured]
    async with pipeline(chdb_dir, kafka) as system:
        await system.create_postback(
            name=f"over-{secured}",
            type="Conversion",
            publisher_id=publisher,
            url=publisher_server.url("/ok") + "?tx={transaction_id}",
        )
        await system.configs_applied()  # query-api -> Kafka -> dispatcher, over TLS
        system.produce("conversions", [conversion(f"tx-{secured}", publisher)])

        (logged,) = await system.wait_for_logs(1, publisher_id=publisher)
        assert logged["transaction_id"] == f"tx-{secured}"
        assert logged["status"] == "Success", logged
        assert publisher_server.find(f"tx=tx-{secured}")
        await system.settled()  # both groups committed over TLS too


@pytest.mark.parametrize("probe", PROBES)
async def test_a_ca_that_did_not_sign_the_brokers_certificate_is_refused_naming_it(
    probe: str, tls_only: KafkaConnection, certificates: Certificates
) -> None:
    wrong = replace(tls_only, ssl_ca_file=certificates.other_ca)
    with pytest.raises(Misconfigured) as refused:
        await asyncio.wait_for(PROBES[probe](wrong), ceiling(30))
    assert refused.value.setting == CA_FILE, refused.value
    assert "not signed by a CA we trust" in str(refused.value)


@pytest.mark.parametrize("probe", PROBES)
async def test_a_missing_client_certificate_is_refused_naming_it(
    probe: str, mutual_tls: KafkaConnection
) -> None:
    without = replace(mutual_tls, ssl_cert_file=None, ssl_key_file=None)
    with pytest.raises(Misconfigured) as refused:
        await asyncio.wait_for(PROBES[probe](without), ceiling(30))
    assert refused.value.setting == CERT_FILE, refused.value


@pytest.mark.parametrize("probe", PROBES)
async def test_a_wrong_sasl_password_is_refused_naming_it(probe: str) -> None:
    with EmbeddedBroker(authentication=True) as broker:
        kafka = KafkaConnection(
            broker.bootstrap,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="postbacks",
            sasl_password=SecretStr("not-the-password"),
        )
        with pytest.raises(Misconfigured) as refused:
            await asyncio.wait_for(PROBES[probe](kafka), ceiling(30))
    assert refused.value.setting == PASSWORD, refused.value


@pytest.mark.parametrize("probe", PROBES)
async def test_no_sasl_at_a_listener_that_requires_it_is_refused_naming_the_protocol(
    probe: str,
) -> None:
    # The broker answers ApiVersions before authentication, then cuts off the Metadata request.
    with EmbeddedBroker(authentication=True) as broker, pytest.raises(Misconfigured) as refused:
        await asyncio.wait_for(PROBES[probe](KafkaConnection(broker.bootstrap)), ceiling(30))
    assert refused.value.setting == PROTOCOL, refused.value
    assert "requires SASL authentication" in str(refused.value)


@pytest.mark.parametrize("probe", PROBES)
async def test_a_refusal_wins_over_a_broker_that_is_down_listed_before_it(
    probe: str, tls_only: KafkaConnection, certificates: Certificates
) -> None:
    down = f"127.0.0.1:{free_port()}"
    wrong = replace(
        tls_only, bootstrap=f"{down},{tls_only.bootstrap}", ssl_ca_file=certificates.other_ca
    )
    with pytest.raises(Misconfigured) as refused:
        await asyncio.wait_for(PROBES[probe](wrong), ceiling(30))
    assert refused.value.setting == CA_FILE, refused.value


async def test_an_unreachable_broker_is_waited_for_then_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    kafka = KafkaConnection(f"127.0.0.1:{port}")
    with caplog.at_level(logging.WARNING, logger="postbacks.startup"):
        waiting = asyncio.create_task(dispatcher_probe.wait_for_kafka(kafka))
        await until(lambda: "waiting for Kafka" in caplog.text, "a 'waiting for Kafka' line")
        assert not waiting.done()
        with EmbeddedBroker(port):
            await asyncio.wait_for(waiting, ceiling(60))  # both probes pass once it is up
    assert "POSTBACKS_KAFKA_BOOTSTRAP" in caplog.text


def test_the_dispatcher_process_refuses_to_start_naming_the_ca_file(
    tls_only: KafkaConnection, certificates: Certificates, tmp_path: Path
) -> None:
    wrong = replace(tls_only, ssl_ca_file=certificates.other_ca)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POSTBACKS_")}
    environment |= {"POSTBACKS_DISPATCHER_PORT": str(free_port()), **wrong.environment()}
    finished = subprocess.run(
        [str(POSTBACKS), "dispatcher"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=ceiling(60),
        cwd=tmp_path,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr[-3000:]
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith("dispatcher refusing to start: "), last
    assert last.endswith(f"check {CA_FILE}"), last


async def test_tls_to_a_plaintext_listener_is_waited_for_naming_the_protocol(
    certificates: Certificates,
) -> None:
    # The listener reads the ClientHello as the start of a request and waits for the rest:
    # nothing refuses, so the probe waits, and its wait line says where to look.
    with EmbeddedBroker() as broker:
        kafka = KafkaConnection(
            broker.bootstrap, security_protocol="SSL", ssl_ca_file=certificates.ca
        )
        with pytest.raises(TimeoutError, match=f"plaintext listener\\? check {PROTOCOL}"):
            await kafka_probe.reach_kafka(kafka, timeout_s=1)
