"""Settings shared by every service (design §9). Each service extends `CommonSettings`.

Precedence: a command-line flag over the environment variable over the default. Settings are
validated when a service starts, so a wrong value fails at once naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from postbacks.kafka_connection import (
    KafkaConnection,
    KafkaSettingError,
    SaslMechanism,
    SecurityProtocol,
)


class CommonSettings(BaseSettings):
    # A refused value is not repeated in the error: POSTBACKS_CLICKHOUSE_PASSWORD is one. A blank
    # variable (`VAR=`, a compose file's `${VAR:-}`) is unset, for every setting alike.
    model_config = SettingsConfigDict(
        env_prefix="POSTBACKS_", extra="ignore", hide_input_in_errors=True, env_ignore_empty=True
    )

    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka bootstrap servers; unset = the embedded broker"
    )
    kafka_port: Annotated[int, Field(ge=0, le=65535)] = 9092
    # How every Kafka client connects (postbacks.kafka_connection; docs/production.md). Checked
    # together at start (`_kafka_works`), so a combination that cannot work names its variable.
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed the brokers' certificates"
    )
    kafka_ssl_cert_file: Path | None = Field(
        default=None, description="PEM client certificate for mutual TLS"
    )
    kafka_ssl_key_file: Path | None = Field(
        default=None, description="PEM private key (unencrypted) of the client certificate"
    )
    kafka_ssl_check_hostname: bool = True
    data_dir: Path = Path(".postbacks")
    clickhouse_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLICKHOUSE_URL", "POSTBACKS_CLICKHOUSE_URL"),
        description="ClickHouse server URL; unset = the embedded engine (chDB) in data_dir",
    )
    ops_host: str = Field(
        default="127.0.0.1",
        description="address of /metrics, /healthz, /readyz (0.0.0.0 in containers)",
    )
    embedded: bool = Field(
        default=False,
        description="let a production command run on the embedded defaults (trials only)",
    )
    clickhouse_database: str = Field(default="postbacks", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # The account and TLS of a ClickHouse server (docs/production.md). User and password win
    # over the URL's, so a password need not sit in a URL; the files are checked here, at start.
    clickhouse_user: str | None = Field(default=None, min_length=1)
    clickhouse_password: SecretStr | None = None
    clickhouse_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed the server's certificate (https)"
    )
    clickhouse_cert_file: Path | None = Field(
        default=None, description="PEM client certificate for mutual TLS (https)"
    )
    clickhouse_key_file: Path | None = Field(
        default=None,
        validate_default=True,
        description="PEM private key of POSTBACKS_CLICKHOUSE_CERT_FILE, unless that file has it",
    )

    @field_validator("clickhouse_url")
    @classmethod
    def _server_url(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            try:
                parts.port  # noqa: B018 - raises on a port that is no number
            except ValueError:
                parts = parts._replace(scheme="")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    "must be http[s]://[user:password@]host[:port]/[?database=name]; "
                    "percent-encode special characters of the password in it, or set "
                    "POSTBACKS_CLICKHOUSE_PASSWORD instead"
                )
        return url

    @field_validator("clickhouse_user", "clickhouse_password")
    @classmethod
    def _account_needs_a_server(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and not info.data.get("clickhouse_url"):
            raise ValueError("is for a ClickHouse server, and CLICKHOUSE_URL is not set")
        return value

    @field_validator("clickhouse_ca_file", "clickhouse_cert_file")
    @classmethod
    def _tls_file(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is not None:
            _needs_https(info)
            _readable(path)
        return path

    @field_validator("clickhouse_key_file")
    @classmethod
    def _key_of_the_certificate(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        certificate = info.data.get("clickhouse_cert_file")
        if path is not None:
            _needs_https(info)
            _readable(path)
            if certificate is None:
                raise ValueError(
                    "is the key of a client certificate: set POSTBACKS_CLICKHOUSE_CERT_FILE too"
                )
        elif certificate is not None and b"PRIVATE KEY-----" not in certificate.read_bytes():
            raise ValueError(
                f"must be set: the client certificate {certificate} "
                "(POSTBACKS_CLICKHOUSE_CERT_FILE) holds no private key"
            )
        return path

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def kafka(self) -> KafkaConnection:
        """What every Kafka client is built from."""
        return KafkaConnection(
            self.bootstrap,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            ssl_ca_file=self.kafka_ssl_ca_file,
            ssl_cert_file=self.kafka_ssl_cert_file,
            ssl_key_file=self.kafka_ssl_key_file,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
        )

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _kafka_names_any_case(cls, value: object) -> object:
        # Kafka's clients take `sasl_ssl` as well as `SASL_SSL`; so do we.
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _kafka_works(self) -> CommonSettings:
        try:
            self.kafka.check()
        except KafkaSettingError as exc:
            # Raised as the field's own error, so the refusal names the variable to fix.
            field = exc.variable.removeprefix("POSTBACKS_").lower()
            error = PydanticCustomError("kafka_settings", "{problem}", {"problem": exc.problem})
            detail = InitErrorDetails(type=error, loc=(field,), input=getattr(self, field, None))
            raise ValidationError.from_exception_data(
                type(self).__name__, [detail], hide_input=True
            ) from exc
        return self


def _needs_https(info: ValidationInfo) -> None:
    if not str(info.data.get("clickhouse_url") or "").startswith("https://"):
        raise ValueError("is for TLS, so CLICKHOUSE_URL must start with https://")


def _readable(path: Path) -> None:
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError(f"{path} is not a readable file")
