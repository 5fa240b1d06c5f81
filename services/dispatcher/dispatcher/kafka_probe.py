"""The dispatcher's start-up against Kafka, through both of its Kafka libraries.

The configuration follower is aiokafka's (Python's ssl), the inputs and attempts librdkafka's
(its own OpenSSL): each reads the CA, certificate and key itself, so each is asked before any
client starts. librdkafka reports why a connection failed only to its error callback, which
runs inside `poll()`; `list_topics` itself says just "transport failure".
"""

from __future__ import annotations

import asyncio
import logging

from confluent_kafka import KafkaError, KafkaException, Producer

from postbacks.kafka_connection import (
    BOOTSTRAP,
    CA_FILE,
    CERT_FILE,
    MECHANISM,
    PASSWORD,
    KafkaConnection,
)
from postbacks.kafka_probe import PROBE_TIMEOUT_S, tls_refusal
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
    most telling error its callback saw when the request fails."""
    reported: list[KafkaError] = []
    producer = Producer(
        {**kafka.librdkafka(), "client.id": "dispatcher-startup", "error_cb": reported.append},
        logger=log,
    )
    try:
        await asyncio.to_thread(producer.list_topics, None, timeout_s)
    except KafkaException as exc:
        producer.poll(0)  # runs error_cb for what happened meanwhile
        telling = [e for e in reported if e.code() in _TELLING]
        raise KafkaException(telling[0]) if telling else exc from None
    finally:
        await asyncio.to_thread(producer.close)


def librdkafka_refusal(error: Exception) -> Misconfigured | None:
    """A Misconfigured naming the setting to fix, or None for a broker not up yet."""
    if not isinstance(error, KafkaException) or not isinstance(error.args[0], KafkaError):
        return None
    code, text = error.args[0].code(), error.args[0].str()
    if code == KafkaError._AUTHENTICATION:
        if "mechanism" in text and "handshake failed" in text:
            return Misconfigured(MECHANISM, f"Kafka does not offer this SASL mechanism ({text})")
        return Misconfigured(
            PASSWORD, f"Kafka refused the SASL login: wrong username or password? ({text})"
        )
    if code == KafkaError._INVALID_ARG:  # a file librdkafka could not load, at construction
        if "ssl.ca.location" in text:
            return Misconfigured(CA_FILE, f"librdkafka cannot load it ({text})")
        if "ssl.certificate.location" in text or "ssl.key.location" in text:
            return Misconfigured(CERT_FILE, f"librdkafka cannot load it or its key ({text})")
    return tls_refusal(text)
