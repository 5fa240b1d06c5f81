"""The dispatcher's start-up against Kafka, through both of its Kafka libraries.

The configuration follower is aiokafka's (Python's ssl), the inputs and attempts librdkafka's
(its own OpenSSL): each reads the CA, certificate and key itself, so each is asked before any
client starts. librdkafka reports why a connection failed only to its error callback, which
runs inside `poll()`; `list_topics` itself says just "transport failure". A listener that wants
SASL from a client without it shows only in librdkafka's log ("Disconnected ... in state UP":
cut off right after ApiVersions), so the probe reads its log lines too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from postbacks.kafka_connection import (
    BOOTSTRAP,
    CA_FILE,
    CERT_FILE,
    KafkaConnection,
)
from postbacks.kafka_probe import (
    PROBE_TIMEOUT_S,
    SaslRequired,
    kafka_refusal,
    sasl_refusal,
    tls_refusal,
)
from postbacks.kafka_probe import wait_for_kafka as wait_for_aiokafka
from postbacks.startup import Misconfigured, wait_for

log = logging.getLogger(__name__)

# Connection failures that say why; _ALL_BROKERS_DOWN and a bare _TRANSPORT come after them.
_TELLING = (KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError._TRANSPORT)


async def wait_for_kafka(kafka: KafkaConnection) -> None:
    """Until aiokafka and librdkafka both connect with the configured security; Misconfigured
    names the setting a refusal points at."""
    await wait_for_aiokafka(kafka)
    await wait_for_librdkafka(kafka)


async def wait_for_librdkafka(kafka: KafkaConnection) -> None:
    """`wait_for_kafka` through librdkafka alone."""
    await wait_for(
        "Kafka (librdkafka)",
        lambda: reach_kafka_librdkafka(kafka),
        setting=BOOTSTRAP,
        refusal=librdkafka_refusal,
    )


async def reach_kafka_librdkafka(
    kafka: KafkaConnection, timeout_s: float = PROBE_TIMEOUT_S
) -> None:
    """A metadata request through a librdkafka producer; raises KafkaException carrying the
    most telling error its callback saw when the request fails (or SaslRequired)."""
    reported: list[KafkaError] = []
    logged = _Remembering()
    producer = Producer(
        {**kafka.librdkafka(), "client.id": "dispatcher-startup", "error_cb": reported.append},
        logger=logged,
    )
    try:
        await asyncio.to_thread(producer.list_topics, None, timeout_s)
    except KafkaException as exc:
        producer.poll(0)  # runs error_cb (and the logger) for what happened meanwhile
        telling = most_telling(reported)
        if telling is not None and librdkafka_refusal(KafkaException(telling)) is not None:
            raise KafkaException(telling) from None
        cut_off = next((line for line in logged.lines if _cut_off_when_up(line)), None)
        if cut_off is not None and not kafka.sasl:
            raise SaslRequired(f"cut off right after ApiVersions: {cut_off}") from None
        raise KafkaException(telling) if telling else exc from None
    finally:
        await asyncio.to_thread(producer.close)


def most_telling(reported: list[KafkaError]) -> KafkaError | None:
    """The first reported error that is a refusal, else the first that says why at all: with a
    broker that is down listed before one that refuses us, the refusal must win."""
    telling = [e for e in reported if e.code() in _TELLING]
    refusing = (e for e in telling if librdkafka_refusal(KafkaException(e)) is not None)
    return next(refusing, telling[0] if telling else None)


class _Remembering(logging.LoggerAdapter[logging.Logger]):
    """librdkafka's log, as the dispatcher logs it, with each line kept for the probe to read."""

    def __init__(self) -> None:
        super().__init__(log, {})
        self.lines: list[str] = []

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        self.lines.append(str(msg) % args if args else str(msg))
        super().log(level, msg, *args, **kwargs)


def _cut_off_when_up(line: str) -> bool:
    # "127.0.0.1:9092/bootstrap: Disconnected: connection closed by peer: receive 0 after POLLIN
    # (after 0ms in state UP)"; UP is after ApiVersions (and SASL, for a SASL client).
    return "Disconnected" in line and "in state UP)" in line


def librdkafka_refusal(error: Exception) -> Misconfigured | None:
    """A Misconfigured naming the setting to fix, or None for a broker not up yet."""
    if isinstance(error, SaslRequired):
        return kafka_refusal(error)
    if not isinstance(error, KafkaException) or not isinstance(error.args[0], KafkaError):
        return None
    code, text = error.args[0].code(), error.args[0].str()
    if code == KafkaError._AUTHENTICATION:
        if "handshake failed" in text:  # the SaslHandshake, before the credentials are sent
            if "unsupported sasl mechanism" in text.lower():
                return sasl_refusal("mechanism", text)
            return sasl_refusal("no_sasl", text)
        return sasl_refusal("login", text)
    if code == KafkaError._INVALID_ARG:  # a file librdkafka could not load, at construction
        if "ssl.ca.location" in text:
            return Misconfigured(CA_FILE, f"librdkafka cannot load it ({text})")
        if "ssl.certificate.location" in text or "ssl.key.location" in text:
            return Misconfigured(CERT_FILE, f"librdkafka cannot load it or its key ({text})")
    return tls_refusal(text)
