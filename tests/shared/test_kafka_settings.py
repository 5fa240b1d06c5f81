"""The Kafka security settings: refused at load naming the variable, mapped onto the options of
both client libraries alike, handed whole to a child process; the start-up refusals classified.
(Over real TLS and SASL: tests/e2e/test_secured_kafka.py.)"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from confluent_kafka import KafkaError, KafkaException
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from typer.testing import CliRunner

from dispatcher.kafka_probe import librdkafka_refusal, most_telling
from dispatcher.settings import DispatcherSettings
from postbacks.kafka_connection import (
    CA_FILE,
    CERT_FILE,
    MECHANISM,
    PASSWORD,
    PROTOCOL,
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    KafkaConnection,
    KafkaSettingError,
)
from postbacks.kafka_probe import (
    SaslRefused,
    SaslRequired,
    _sasl_refused,
    kafka_refusal,
    tls_refusal,
)
from postbacks_cli.main import app as cli

VARIABLES = (
    "POSTBACKS_KAFKA_BOOTSTRAP",
    "POSTBACKS_KAFKA_SECURITY_PROTOCOL",
    "POSTBACKS_KAFKA_SASL_MECHANISM",
    "POSTBACKS_KAFKA_SASL_USERNAME",
    "POSTBACKS_KAFKA_SASL_PASSWORD",
    "POSTBACKS_KAFKA_SSL_CA_FILE",
    "POSTBACKS_KAFKA_SSL_CERT_FILE",
    "POSTBACKS_KAFKA_SSL_KEY_FILE",
    "POSTBACKS_KAFKA_SSL_CHECK_HOSTNAME",
)
UNSET = dict.fromkeys(VARIABLES)
FILES = Path(__file__).parent  # a real file for the cases that fail before reading it


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("kafka-pems")
    ca = trustme.CA()
    client = ca.issue_cert("postbacks-client")
    paths = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key", "other_key")}
    ca.cert_pem.write_to_path(paths["ca"])
    client.cert_chain_pems[0].write_to_path(paths["cert"])
    client.private_key_pem.write_to_path(paths["key"])
    ca.issue_cert("someone-else").private_key_pem.write_to_path(paths["other_key"])
    return paths


def _refusal(env: dict[str, str]) -> str:
    """What `postbacks dispatcher` says, loading its settings from `env` (it starts nothing)."""
    given = {"POSTBACKS_KAFKA_BOOTSTRAP": "kafka-1:9093", **env, "COLUMNS": "200"}
    result = CliRunner().invoke(cli, ["dispatcher"], env={**UNSET, **given})
    assert result.exit_code == 2, result.output
    return result.stderr


def test_sasl_needs_a_mechanism_a_username_and_a_password() -> None:
    sasl = {"POSTBACKS_KAFKA_SECURITY_PROTOCOL": "sasl_ssl"}  # any case
    assert _refusal(sasl).startswith(
        "invalid setting kafka_sasl_mechanism (POSTBACKS_KAFKA_SASL_MECHANISM): required when "
        "POSTBACKS_KAFKA_SECURITY_PROTOCOL is SASL_SSL"
    )
    sasl |= {"POSTBACKS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}
    assert "(POSTBACKS_KAFKA_SASL_USERNAME): required" in _refusal(sasl)
    sasl |= {"POSTBACKS_KAFKA_SASL_USERNAME": "postbacks"}
    assert "(POSTBACKS_KAFKA_SASL_PASSWORD): required" in _refusal(sasl)


def test_credentials_or_files_for_a_protocol_that_does_not_use_them_are_refused() -> None:
    refusal = _refusal({"POSTBACKS_KAFKA_SASL_PASSWORD": "hunter2"})
    assert "(POSTBACKS_KAFKA_SASL_PASSWORD): set, but POSTBACKS_KAFKA_SECURITY_PROTOCOL is " in (
        refusal
    )
    assert "hunter2" not in refusal
    refusal = _refusal(
        {
            "POSTBACKS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "POSTBACKS_KAFKA_SASL_MECHANISM": "PLAIN",
            "POSTBACKS_KAFKA_SASL_USERNAME": "postbacks",
            "POSTBACKS_KAFKA_SASL_PASSWORD": "hunter2",
            "POSTBACKS_KAFKA_SSL_CA_FILE": str(FILES / "__init__.py"),
        }
    )
    assert "(POSTBACKS_KAFKA_SSL_CA_FILE): set, but" in refusal
    assert "which uses no TLS" in refusal
    assert "hunter2" not in refusal


def test_an_unknown_protocol_or_mechanism_is_refused_naming_it() -> None:
    assert "(POSTBACKS_KAFKA_SECURITY_PROTOCOL)" in _refusal(
        {"POSTBACKS_KAFKA_SECURITY_PROTOCOL": "TLS"}
    )
    refusal = _refusal(
        {
            "POSTBACKS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "POSTBACKS_KAFKA_SASL_MECHANISM": "GSSAPI",
        }
    )
    assert "(POSTBACKS_KAFKA_SASL_MECHANISM)" in refusal


def test_tls_files_must_be_readable_pem_and_a_certificate_needs_its_key(
    tmp_path: Path, pems: dict[str, Path]
) -> None:
    tls = {"POSTBACKS_KAFKA_SECURITY_PROTOCOL": "SSL"}
    missing = tmp_path / "nowhere.pem"
    refusal = _refusal(tls | {"POSTBACKS_KAFKA_SSL_CA_FILE": str(missing)})
    assert f"(POSTBACKS_KAFKA_SSL_CA_FILE): {missing} is not a readable file" in refusal
    refusal = _refusal(tls | {"POSTBACKS_KAFKA_SSL_CA_FILE": str(FILES / "__init__.py")})
    assert "(POSTBACKS_KAFKA_SSL_CA_FILE): not a PEM CA certificate" in refusal
    refusal = _refusal(tls | {"POSTBACKS_KAFKA_SSL_CERT_FILE": str(pems["cert"])})
    assert "(POSTBACKS_KAFKA_SSL_KEY_FILE): required with POSTBACKS_KAFKA_SSL_CERT_FILE" in refusal
    refusal = _refusal(tls | {"POSTBACKS_KAFKA_SSL_KEY_FILE": str(pems["key"])})
    assert "(POSTBACKS_KAFKA_SSL_CERT_FILE): required with POSTBACKS_KAFKA_SSL_KEY_FILE" in refusal
    mismatched = {
        "POSTBACKS_KAFKA_SSL_CERT_FILE": str(pems["cert"]),
        "POSTBACKS_KAFKA_SSL_KEY_FILE": str(pems["other_key"]),
    }
    assert "(POSTBACKS_KAFKA_SSL_CERT_FILE): the certificate and" in _refusal(tls | mismatched)


def test_an_empty_variable_is_unset() -> None:
    blank = dict.fromkeys(VARIABLES[1:], "")
    with pytest.MonkeyPatch.context() as env:
        for variable, value in blank.items():
            env.setenv(variable, value)
        assert DispatcherSettings(kafka_bootstrap="k:9092").kafka == KafkaConnection("k:9092")


def test_a_bootstrap_that_is_not_host_port_is_refused() -> None:
    refusal = _refusal({"POSTBACKS_KAFKA_BOOTSTRAP": "kafka-1:ninety"})
    assert "(POSTBACKS_KAFKA_BOOTSTRAP): 'kafka-1:ninety' is not" in refusal


@pytest.mark.parametrize(
    ("bootstrap", "problem"),
    [
        ("kafka-1:9092,", "an empty entry"),  # would be ("", 9092)
        ("::1", "IPv6 address in brackets"),  # would be ("::", 1)
        ("fe80::1:9092", "IPv6 address in brackets"),
        (":9092", "has no host"),
        ("[::1", "[address]:port"),
    ],
)
def test_a_bootstrap_with_no_host_or_a_bare_ipv6_address_is_refused(
    bootstrap: str, problem: str
) -> None:
    with pytest.raises(KafkaSettingError) as refused:
        KafkaConnection(bootstrap).check()  # as the settings do at load
    assert refused.value.variable == "POSTBACKS_KAFKA_BOOTSTRAP"
    assert problem in refused.value.problem


def test_an_ipv6_address_in_brackets_is_a_host() -> None:
    assert KafkaConnection("[::1]:9093,[fe80::1]").hosts() == [("::1", 9093), ("fe80::1", 9092)]


def test_the_default_is_plaintext_to_the_bootstrap_servers() -> None:
    kafka = KafkaConnection("kafka-1:9092,kafka-2")
    assert kafka.aiokafka() == {
        "bootstrap_servers": "kafka-1:9092,kafka-2",
        "security_protocol": "PLAINTEXT",
    }
    assert kafka.librdkafka() == {
        "bootstrap.servers": "kafka-1:9092,kafka-2",
        "security.protocol": "plaintext",
    }
    assert kafka.hosts() == [("kafka-1", 9092), ("kafka-2", 9092)]


@st.composite
def connections(draw: st.DrawFn, pems: dict[str, Path]) -> KafkaConnection:
    protocol = draw(st.sampled_from(SECURITY_PROTOCOLS))
    sasl, tls = protocol.startswith("SASL"), protocol.endswith("SSL")
    # What an environment variable can hold: no NUL, no lone surrogate (not in UTF-8).
    characters = st.characters(codec="utf-8", exclude_characters="\x00")
    text = st.text(characters, min_size=1)
    client = tls and draw(st.booleans())
    return KafkaConnection(
        draw(st.sampled_from(["127.0.0.1:9093", "b-1.msk:9096,b-2.msk:9096", "[::1]:9092"])),
        security_protocol=protocol,
        sasl_mechanism=draw(st.sampled_from(SASL_MECHANISMS)) if sasl else None,
        sasl_username=draw(text) if sasl else None,
        sasl_password=SecretStr(draw(text)) if sasl else None,
        ssl_ca_file=pems["ca"] if tls and draw(st.booleans()) else None,
        ssl_cert_file=pems["cert"] if client else None,
        ssl_key_file=pems["key"] if client else None,
        ssl_check_hostname=draw(st.booleans()),
    )


@given(data=st.data())
def test_both_libraries_get_the_same_connection(data: st.DataObject, pems: dict[str, Path]) -> None:
    kafka = data.draw(connections(pems))
    kafka.check()
    aio, rd = kafka.aiokafka(), kafka.librdkafka()
    assert aio["bootstrap_servers"] == rd["bootstrap.servers"] == kafka.bootstrap
    assert aio["security_protocol"] == rd["security.protocol"].upper() == kafka.security_protocol
    if kafka.sasl:
        assert aio["sasl_mechanism"] == rd["sasl.mechanism"] == kafka.sasl_mechanism
        assert aio["sasl_plain_username"] == rd["sasl.username"] == kafka.sasl_username
        assert kafka.sasl_password is not None
        assert aio["sasl_plain_password"] == rd["sasl.password"]
        assert rd["sasl.password"] == kafka.sasl_password.get_secret_value()
    else:
        assert not [key for key in rd if key.startswith("sasl.")]
        assert not [key for key in aio if key.startswith("sasl_")]
    if kafka.tls:
        context = aio["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname == kafka.ssl_check_hostname
        algorithm = rd["ssl.endpoint.identification.algorithm"]
        assert algorithm == ("https" if kafka.ssl_check_hostname else "none")
        assert rd.get("ssl.ca.location") == (kafka.ssl_ca_file and str(kafka.ssl_ca_file))
        assert rd.get("ssl.certificate.location") == (
            kafka.ssl_cert_file and str(kafka.ssl_cert_file)
        )
        assert rd.get("ssl.key.location") == (kafka.ssl_key_file and str(kafka.ssl_key_file))
    else:
        assert "ssl_context" not in aio
        assert not [key for key in rd if key.startswith("ssl.")]


@given(data=st.data())
def test_a_child_process_reads_the_same_connection_from_its_environment(
    data: st.DataObject, pems: dict[str, Path]
) -> None:
    kafka = data.draw(connections(pems))
    # What `postbacks dev` gives the dispatcher it starts, read as the child reads it.
    with pytest.MonkeyPatch.context() as env:
        for variable in VARIABLES:
            env.delenv(variable, raising=False)
        for variable, value in kafka.environment().items():
            env.setenv(variable, value)
        assert DispatcherSettings().kafka == kafka


def test_the_start_up_refusals_name_the_setting_to_fix() -> None:
    def setting(error: Exception) -> str | None:
        refused = kafka_refusal(error)
        return refused.setting if refused else None

    unknown_ca = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )
    assert setting(unknown_ca) == CA_FILE
    mismatch = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch"
    )
    assert setting(mismatch) == "POSTBACKS_KAFKA_BOOTSTRAP"
    # A TLS alert after the handshake reaches us as the cause of a closed connection.
    closed = KafkaConnectionError("Connection at 127.0.0.1:9093 closed")
    closed.__cause__ = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert")
    assert setting(closed) == CERT_FILE
    wrong_version = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    assert setting(wrong_version) == PROTOCOL
    assert setting(_sasl_refused(SaslAuthenticationFailed("bad password"))) == PASSWORD
    assert setting(_sasl_refused(KeyError("v"))) == PASSWORD  # Tansu's SCRAM error answer
    assert setting(_sasl_refused(UnsupportedSaslMechanismError("no PLAIN"))) == MECHANISM
    assert isinstance(_sasl_refused(KeyError("v")), SaslRefused)
    # A SASL client at a listener without SASL: refused at the handshake, before credentials.
    assert setting(_sasl_refused(IllegalSaslStateError())) == PROTOCOL
    assert setting(SaslRequired("closed after ApiVersions")) == PROTOCOL
    # Not up yet: waited for.
    assert setting(ConnectionRefusedError(111, "Connect call failed")) is None
    assert setting(_sasl_refused(ConnectionRefusedError(111, "refused"))) is None
    assert setting(KafkaConnectionError("Connection at 127.0.0.1:9093 closed")) is None
    assert setting(TimeoutError()) is None
    assert setting(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")) is None


def test_librdkafka_refusals_name_the_same_settings() -> None:
    def setting(code: int, text: str) -> str | None:
        refused = librdkafka_refusal(KafkaException(KafkaError(code, text)))
        return refused.setting if refused else None

    sasl = "SASL SCRAM authentication failed: broker responded with unknown-user"
    assert setting(KafkaError._AUTHENTICATION, sasl) == PASSWORD
    verify = "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed"
    assert setting(KafkaError._SSL, verify) == CA_FILE
    alert = "Receive failed: error:0A00045C:SSL routines::tlsv13 alert certificate required"
    assert setting(KafkaError._TRANSPORT, alert) == CERT_FILE
    assert setting(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:9 failed: refused") is None
    assert setting(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down") is None
    mechanism = "SASL SCRAM-SHA-512 mechanism handshake failed: Broker: Unsupported SASL mechanism"
    assert setting(KafkaError._AUTHENTICATION, mechanism) == MECHANISM
    no_sasl = "SASL SCRAM-SHA-512 mechanism handshake failed: Broker: Illegal SASL state"
    assert setting(KafkaError._AUTHENTICATION, no_sasl) == PROTOCOL
    assert librdkafka_refusal(SaslRequired("Disconnected (after 0ms in state UP)")) is not None


def test_the_refusal_wins_over_an_earlier_broker_that_is_down() -> None:
    down = KafkaError(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:9 failed: refused")
    refused = KafkaError(KafkaError._SSL, "SSL handshake failed: certificate verify failed")
    later_down = KafkaError(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:8 failed")
    assert most_telling([down, refused, later_down]) is refused
    assert most_telling([KafkaError(KafkaError._ALL_BROKERS_DOWN), down, later_down]) is down
    assert most_telling([KafkaError(KafkaError._ALL_BROKERS_DOWN)]) is None
    assert librdkafka_refusal(RuntimeError("not librdkafka's")) is None


def test_tls_refusal_reads_python_and_openssl_wording_alike() -> None:
    for text in (
        "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)",
        "SSL routines::sslv3 alert bad certificate: SSL alert number 42",
    ):
        refused = tls_refusal(text)
        assert refused is not None
        assert refused.setting == CERT_FILE
    assert tls_refusal("Connection reset by peer") is None


def test_a_setting_error_names_its_variable() -> None:
    error = KafkaSettingError(PASSWORD, "required")
    assert str(error) == f"{PASSWORD}: required"
    with pytest.raises(KafkaSettingError) as refused:
        KafkaConnection("k:9093", security_protocol="SASL_SSL").check()
    assert refused.value.variable == MECHANISM
