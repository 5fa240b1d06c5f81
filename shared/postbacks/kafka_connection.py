"""How every Kafka client of every service connects: the bootstrap servers and the security.

One `KafkaConnection`, built from the settings (`settings.kafka`), is passed to whatever builds a
client; each client takes its options from `.aiokafka()` or `.librdkafka()`, so a setting added
here reaches every client of both libraries at once.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SECURITY_PROTOCOLS: tuple[SecurityProtocol, ...] = get_args(SecurityProtocol)
SASL_MECHANISMS: tuple[SaslMechanism, ...] = get_args(SaslMechanism)

# The variables behind each field, for errors that name what to fix.
PROTOCOL = "POSTBACKS_KAFKA_SECURITY_PROTOCOL"
MECHANISM = "POSTBACKS_KAFKA_SASL_MECHANISM"
USERNAME = "POSTBACKS_KAFKA_SASL_USERNAME"
PASSWORD = "POSTBACKS_KAFKA_SASL_PASSWORD"
CA_FILE = "POSTBACKS_KAFKA_SSL_CA_FILE"
CERT_FILE = "POSTBACKS_KAFKA_SSL_CERT_FILE"
KEY_FILE = "POSTBACKS_KAFKA_SSL_KEY_FILE"
CHECK_HOSTNAME = "POSTBACKS_KAFKA_SSL_CHECK_HOSTNAME"
BOOTSTRAP = "POSTBACKS_KAFKA_BOOTSTRAP"


class KafkaSettingError(ValueError):
    """A combination of Kafka settings that cannot work; `variable` is the one to fix."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where Kafka is and how to talk to it. `KafkaConnection("host:9092")` is plaintext."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: Path | None = None  # None: the system's CA certificates
    ssl_cert_file: Path | None = None  # with ssl_key_file: a client certificate (mTLS)
    ssl_key_file: Path | None = None
    ssl_check_hostname: bool = True

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def check(self) -> None:
        """Raise KafkaSettingError for a combination that cannot work, naming the variable;
        for TLS, also load the certificate files, so a wrong file fails at start."""
        try:
            self.hosts()
        except ValueError as exc:
            raise KafkaSettingError(
                BOOTSTRAP, f"{self.bootstrap!r} is not a comma-separated list of host:port ({exc})"
            ) from None
        if self.sasl:
            for variable, value in (
                (MECHANISM, self.sasl_mechanism),
                (USERNAME, self.sasl_username),
                (PASSWORD, self.sasl_password and self.sasl_password.get_secret_value()),
            ):
                if not value:
                    raise KafkaSettingError(
                        variable, f"required when {PROTOCOL} is {self.security_protocol}"
                    )
        else:
            # Credentials set for a protocol that never sends them are a mistake, not a default.
            for variable, value in (
                (MECHANISM, self.sasl_mechanism),
                (USERNAME, self.sasl_username),
                (PASSWORD, self.sasl_password),
            ):
                if value is not None:
                    raise KafkaSettingError(
                        variable,
                        f"set, but {PROTOCOL} is {self.security_protocol}, which sends no "
                        "credentials; use SASL_SSL (or SASL_PLAINTEXT)",
                    )
        files = (
            (CA_FILE, self.ssl_ca_file),
            (CERT_FILE, self.ssl_cert_file),
            (KEY_FILE, self.ssl_key_file),
        )
        if not self.tls:
            for variable, path in files:
                if path is not None:
                    raise KafkaSettingError(
                        variable,
                        f"set, but {PROTOCOL} is {self.security_protocol}, which uses no TLS; "
                        "use SSL (or SASL_SSL)",
                    )
            return
        for variable, path in files:
            if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
                raise KafkaSettingError(variable, f"{path} is not a readable file")
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            given, missing = (
                (CERT_FILE, KEY_FILE) if self.ssl_key_file is None else (KEY_FILE, CERT_FILE)
            )
            raise KafkaSettingError(
                missing, f"required with {given}: a client certificate needs its private key"
            )
        self.ssl_context()

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of the aiokafka clients; KafkaSettingError names a file that does
        not load (not PEM, a key that does not match the certificate, an encrypted key)."""
        try:
            context: ssl.SSLContext = create_ssl_context(cafile=_str(self.ssl_ca_file))
        except (ssl.SSLError, OSError) as exc:
            raise KafkaSettingError(CA_FILE, f"not a PEM CA certificate ({exc})") from exc
        if self.ssl_cert_file is not None:
            try:
                # An empty password: an encrypted key fails here instead of prompting on a tty.
                context.load_cert_chain(self.ssl_cert_file, self.ssl_key_file, password="")
            except (ssl.SSLError, OSError) as exc:
                raise KafkaSettingError(
                    CERT_FILE,
                    f"the certificate and {KEY_FILE} do not load as a PEM certificate and its "
                    f"unencrypted private key ({exc})",
                ) from exc
        context.check_hostname = self.ssl_check_hostname
        return context

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments of every aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = _secret(self.sasl_password)
        return options

    def librdkafka(self) -> dict[str, Any]:
        """Configuration properties of every librdkafka client (confluent-kafka)."""
        options: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.tls:
            # Unset, the wheel's statically linked OpenSSL probes the usual system CA paths.
            optional = {
                "ssl.ca.location": self.ssl_ca_file,
                "ssl.certificate.location": self.ssl_cert_file,
                "ssl.key.location": self.ssl_key_file,
            }
            options |= {key: str(path) for key, path in optional.items() if path is not None}
            options["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_check_hostname else "none"
            )
        if self.sasl:
            options["sasl.mechanism"] = self.sasl_mechanism
            options["sasl.username"] = self.sasl_username
            options["sasl.password"] = _secret(self.sasl_password)
        return options

    def environment(self) -> dict[str, str]:
        """The POSTBACKS_KAFKA_* variables that describe this connection, for a child process
        (`postbacks dev` starts the dispatcher with them)."""
        values = {
            BOOTSTRAP: self.bootstrap,
            PROTOCOL: self.security_protocol,
            MECHANISM: self.sasl_mechanism,
            USERNAME: self.sasl_username,
            PASSWORD: _secret(self.sasl_password),
            CA_FILE: _str(self.ssl_ca_file),
            CERT_FILE: _str(self.ssl_cert_file),
            KEY_FILE: _str(self.ssl_key_file),
            CHECK_HOSTNAME: str(self.ssl_check_hostname).lower(),
        }
        return {name: value for name, value in values.items() if value is not None}

    def hosts(self) -> list[tuple[str, int]]:
        """The bootstrap servers as (host, port); a server without a port is on 9092, an IPv6
        address is in brackets ("[::1]:9092"). ValueError says which server is not one."""
        return [_host_port(server.strip()) for server in self.bootstrap.split(",")]


def _host_port(server: str) -> tuple[str, int]:
    if not server:
        raise ValueError("an empty entry (a stray comma?)")
    if server.startswith("["):
        host, bracket, rest = server[1:].partition("]")
        if not bracket or rest[:1] not in ("", ":"):
            raise ValueError(f"{server!r}: an IPv6 address is written [address]:port")
        port = rest[1:] or "9092"
    else:
        host, colon, port = server.rpartition(":")
        if not colon:
            host, port = port, "9092"
        if ":" in host:  # "::1" would read as host "::", port 1
            raise ValueError(f"{server!r}: write an IPv6 address in brackets, [address]:port")
    if not host:
        raise ValueError(f"{server!r} has no host")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{server!r} has no port from 1 to 65535")
    return host, int(port)


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()
