"""Start-up against Kafka: wait for a broker that does not answer yet, refuse one that refuses us.

`wait_for_kafka(kafka)` opens one connection to a bootstrap server the way every aiokafka client
will (TLS, then ApiVersions, then SASL, then a Metadata request) before a service starts its
clients. A broker that cannot be reached is waited for, with backoff, logging "waiting for
Kafka"; a broker that answers and refuses our CA, certificate, password or protocol will not
change its mind, so that raises Misconfigured naming the variable to fix.

The TLS failures are classified by postbacks.tls_errors, from their text, because librdkafka
reports the same OpenSSL failures as strings (the dispatcher's librdkafka probe classifies
through `tls_refusal` too).
"""

from __future__ import annotations

import ssl
from typing import Literal

from aiokafka.conn import AIOKafkaConnection, create_conn
from aiokafka.errors import (
    BrokerResponseError,
    IllegalSaslStateError,
    KafkaConnectionError,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from postbacks.kafka_connection import (
    BOOTSTRAP,
    CA_FILE,
    CERT_FILE,
    CHECK_HOSTNAME,
    MECHANISM,
    PASSWORD,
    PROTOCOL,
    KafkaConnection,
)
from postbacks.startup import Misconfigured, wait_for
from postbacks.tls_errors import tls_refusal_kind

PROBE_TIMEOUT_S = 10.0


class SaslRefused(Exception):
    """The broker took part in the SASL exchange and refused it (its error is the cause)."""


class SaslRequired(Exception):
    """A client without SASL was cut off right after the broker answered ApiVersions: the
    listener wants a SASL login before anything else (Kafka answers ApiVersions unauthenticated,
    then closes the connection on any other request)."""


async def wait_for_kafka(kafka: KafkaConnection) -> None:
    """Until a bootstrap server accepts a connection with the configured security; raises
    Misconfigured when one refuses it."""
    await wait_for("Kafka", lambda: reach_kafka(kafka), setting=BOOTSTRAP, refusal=kafka_refusal)


async def reach_kafka(kafka: KafkaConnection, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Connect to the bootstrap servers in turn until one completes TLS, ApiVersions, SASL and
    a Metadata request; raises the most telling failure (a refusal before "not up yet") when
    none does."""
    options = kafka.aiokafka()
    del options["bootstrap_servers"]
    failures: list[Exception] = []
    for host, port in kafka.hosts():
        try:
            connection = await create_conn(
                host, port, client_id="postbacks-startup",
                request_timeout_ms=int(timeout_s * 1000), **options,
            )  # fmt: skip
        except TimeoutError as error:
            if not kafka.tls:
                failures.append(error)
                continue
            # A plaintext listener reads a ClientHello as the start of a huge request and waits
            # for the rest: no answer, no refusal. Still waited for, but the log says where
            # to look.
            failures.append(
                TimeoutError(
                    f"no answer to the TLS handshake from {host}:{port} in {timeout_s:g} s: a "
                    f"plaintext listener? check {PROTOCOL}"
                )
            )
            continue
        except Exception as error:  # classified by kafka_refusal
            failures.append(_sasl_refused(error) if kafka.sasl else error)
            continue
        try:
            await _metadata(connection, kafka)
        except Exception as error:  # classified by kafka_refusal
            failures.append(error)
            continue
        finally:
            connection.close()
        return
    raise next((f for f in failures if kafka_refusal(f) is not None), failures[-1])


async def _metadata(connection: AIOKafkaConnection, kafka: KafkaConnection) -> None:
    # ApiVersions is answered before authentication; a Metadata request (no topics) is the
    # first that a listener requiring SASL refuses, by closing the connection.
    try:
        await connection.send(MetadataRequest([]))
    except KafkaConnectionError as error:
        if kafka.sasl or isinstance(error.__cause__, ssl.SSLError):
            raise
        raise SaslRequired(
            f"the broker closed the connection after ApiVersions ({error})"
        ) from error


def _sasl_refused(error: Exception) -> Exception:
    # Whatever is not the network failing came from the SASL exchange: the broker answered.
    # (aiokafka raises SaslAuthenticationFailed for Kafka's refusal, but a KeyError when a
    # SCRAM server answers with an error instead of its proof, as Tansu does.)
    if isinstance(error, OSError | TimeoutError | KafkaConnectionError):
        return error
    refused = SaslRefused(f"{type(error).__name__}: {error}")
    refused.__cause__ = error
    return refused


def kafka_refusal(error: Exception) -> Misconfigured | None:
    """A Misconfigured naming the setting to fix, or None for a broker not up yet."""
    if isinstance(error, SaslRequired):
        return Misconfigured(
            PROTOCOL,
            "the listener requires SASL authentication: use SASL_SSL (or SASL_PLAINTEXT) with a "
            f"mechanism, username and password ({error})",
        )
    if isinstance(error, SaslRefused):
        if isinstance(error.__cause__, UnsupportedSaslMechanismError):
            return sasl_refusal("mechanism", error)
        if _before_credentials(error.__cause__):
            return sasl_refusal("no_sasl", error)
        return sasl_refusal("login", error)
    for link in (error, error.__cause__, error.__context__):
        # aiokafka wraps a TLS alert that arrives after the handshake in KafkaConnectionError.
        if isinstance(link, ssl.SSLError):
            return tls_refusal(str(link))
    return None


def sasl_refusal(stage: Literal["mechanism", "no_sasl", "login"], detail: object) -> Misconfigured:
    """The setting behind a SASL failure at `stage`, in aiokafka's and librdkafka's words alike:
    the handshake refused our mechanism, the listener does not do SASL, or the login failed."""
    if stage == "mechanism":
        return Misconfigured(MECHANISM, f"Kafka does not offer this SASL mechanism ({detail})")
    if stage == "no_sasl":
        return Misconfigured(
            PROTOCOL, f"the listener does not do SASL: use SSL (or PLAINTEXT) ({detail})"
        )
    return Misconfigured(
        PASSWORD, f"Kafka refused the SASL login: wrong username or password? ({detail})"
    )


def _before_credentials(error: BaseException | None) -> bool:
    # A listener without SASL answers the SaslHandshake with ILLEGAL_SASL_STATE; aiokafka raises
    # any error of that handshake (sent before the credentials) with the connection as its
    # argument, and a refused login (SaslAuthenticate) with the broker's message.
    return isinstance(error, IllegalSaslStateError) or (
        isinstance(error, BrokerResponseError)
        and bool(error.args)
        and isinstance(error.args[0], AIOKafkaConnection)
    )


def tls_refusal(text: str) -> Misconfigured | None:
    """The setting behind an OpenSSL failure (Python's or librdkafka's wording), or None for a
    failure that may pass (the connection dropped during the handshake)."""
    kind = tls_refusal_kind(text)
    if kind == "client_certificate":
        return Misconfigured(
            CERT_FILE, f"Kafka did not accept our client certificate, or wants one ({text})"
        )
    if kind == "hostname":
        return Misconfigured(
            BOOTSTRAP,
            "the broker's certificate does not hold the address we connect to: use a name it "
            f"holds, or set {CHECK_HOSTNAME}=false ({text})",
        )
    if kind == "ca":
        return Misconfigured(
            CA_FILE, f"the broker's certificate is not signed by a CA we trust ({text})"
        )
    if kind == "not_tls":
        return Misconfigured(PROTOCOL, f"the server there does not speak TLS ({text})")
    return None
