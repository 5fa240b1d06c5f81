"""The destination guard's decisions (design §5), on addresses alone: nothing connects here."""

from __future__ import annotations

import pytest

from dispatcher.guard import LOOPBACK, DestinationGuard, parse_networks

REFUSED = {
    "127.0.0.1": "loopback",
    "::1": "loopback",
    "10.20.30.40": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd12:3456::1": "private",
    "169.254.169.254": "cloud metadata",
    "fd00:ec2::254": "cloud metadata",
    "100.100.100.200": "cloud metadata",
    "169.254.1.1": "link-local",
    "fe80::1%eth0": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "224.0.0.251": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "192.0.2.10": "documentation",
    "::ffff:10.0.0.1": "private",  # IPv4-mapped: judged as the IPv4 address
    "64:ff9b::a9fe:a9fe": "cloud metadata",  # NAT64 of 169.254.169.254
    "2002:a00:1::1": "6to4",
}


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_non_public_addresses_are_refused_by_default(address: str, kind: str) -> None:
    refusal = DestinationGuard().refusal(address)
    assert refusal is not None
    assert f" {kind} address" in refusal


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.215.14"])
def test_public_addresses_pass(address: str) -> None:
    assert DestinationGuard().refusal(address) is None


def test_allowed_networks_let_their_addresses_through_and_nothing_else() -> None:
    guard = DestinationGuard(parse_networks(LOOPBACK + ",10.1.0.0/16"))
    assert guard.refusal("127.0.0.1") is None
    assert guard.refusal("::1") is None
    assert guard.refusal("10.1.2.3") is None
    assert guard.refusal("10.2.0.1") == "10.2.0.1 is a private address"
    assert guard.refusal("169.254.169.254") == "169.254.169.254 is a cloud metadata address"


@pytest.mark.parametrize("text", ["none", "NONE", "", "  "])
def test_none_allows_nothing(text: str) -> None:
    assert parse_networks(text) == ()


def test_a_bad_network_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"'10.0.0.0/33' is not a network in CIDR form"):
        parse_networks("127.0.0.0/8, 10.0.0.0/33")
