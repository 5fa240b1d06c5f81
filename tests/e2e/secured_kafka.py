"""A Kafka that wants TLS, a client certificate or SASL, on real parts, for the tests.

Tansu 0.6 does not complete a TLS handshake with its own --cert flag, so TLS is terminated by
stunnel (Debian's stunnel4, which `make test` installs) in front of it. Tansu advertises the
proxy's address, so the metadata sends every client through the proxy. With a client
certificate required, stunnel checks it against the test CA (`verify = 2`).

The certificates are throwaway ones made by trustme in the test's directory: a CA, a server
certificate for 127.0.0.1 and localhost, a client certificate, and another CA that signed none.

SASL: `EmbeddedBroker(authentication=True)` requires a SCRAM login. Its users live in its
storage and creating one takes an authenticated connection, so in memory no login succeeds:
such a broker serves to see a wrong password refused, not a right one accepted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from postbacks.embedded_broker import EmbeddedBroker, die_with_parent, free_port
from postbacks.kafka_connection import KafkaConnection
from tests.waiting import until_sync

# The Makefile exports STUNNEL (default stunnel4); Debian also names it plain stunnel.
STUNNEL = shutil.which(os.environ.get("STUNNEL") or "stunnel4") or shutil.which("stunnel")


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server: Path  # certificate and key, as stunnel reads them
    client_cert: Path
    client_key: Path
    other_ca: Path  # signed nothing the broker or the client holds


def make_certificates(directory: Path) -> Certificates:
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("postbacks-client")
    found = Certificates(
        ca=directory / "ca.pem",
        server=directory / "server.pem",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        other_ca=directory / "other-ca.pem",
    )
    ca.cert_pem.write_to_path(found.ca)
    other.cert_pem.write_to_path(found.other_ca)
    server.private_key_and_cert_chain_pem.write_to_path(found.server)
    client.cert_chain_pems[0].write_to_path(found.client_cert)
    client.private_key_pem.write_to_path(found.client_key)
    return found


def need_stunnel() -> str:
    if STUNNEL is None:
        pytest.skip("stunnel4 is not installed (`make test` installs it: apt-get install stunnel4)")
    return STUNNEL


@contextlib.contextmanager
def tls_proxy(
    port: int, target: str, certificates: Certificates, *, client_certificate: bool
) -> Iterator[None]:
    """stunnel on 127.0.0.1:`port`, TLS with the server certificate, plain TCP to `target`."""
    binary = need_stunnel()
    directory = certificates.ca.parent
    config = directory / f"stunnel-{port}.conf"
    lines = ["foreground = yes", "pid =", "debug = 4", "[kafka]"]
    lines += [f"accept = 127.0.0.1:{port}", f"connect = {target}", f"cert = {certificates.server}"]
    if client_certificate:
        lines += ["verify = 2", f"CAfile = {certificates.ca}"]
    config.write_text("\n".join(lines) + "\n")
    with (directory / f"stunnel-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        until_sync(lambda: process.poll() is not None or _listening(port), "stunnel listening")
        assert process.poll() is None, f"stunnel exited: {config.with_suffix('.log').read_text()}"
        yield
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@contextlib.contextmanager
def tls_kafka(certificates: Certificates, *, client_certificate: bool) -> Iterator[KafkaConnection]:
    """Tansu behind stunnel; the connection every client of the test uses (the right CA, and
    the client certificate when the proxy requires one)."""
    proxy = free_port()
    with (
        EmbeddedBroker(advertised=f"127.0.0.1:{proxy}") as broker,
        tls_proxy(proxy, broker.bootstrap, certificates, client_certificate=client_certificate),
    ):
        yield KafkaConnection(
            f"127.0.0.1:{proxy}",
            security_protocol="SSL",
            ssl_ca_file=certificates.ca,
            ssl_cert_file=certificates.client_cert if client_certificate else None,
            ssl_key_file=certificates.client_key if client_certificate else None,
        )
