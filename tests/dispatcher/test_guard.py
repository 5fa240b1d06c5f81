"""The destination guard's decisions (design §5), on addresses alone: nothing connects here."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.guard import LOOPBACK, REFUSED_RANGES, DestinationGuard, parse_networks

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
    "::ffff:0:7f00:1": "loopback",  # IPv4-translated (SIIT) of 127.0.0.1
    "::ffff:0:169.254.169.254": "cloud metadata",  # the same, written with the IPv4 dotted
    "64:ff9b::a9fe:a9fe": "cloud metadata",  # NAT64 of 169.254.169.254
    "2002:a00:1::1": "6to4",
}


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_non_public_addresses_are_refused_by_default(address: str, kind: str) -> None:
    refusal = DestinationGuard().refusal(address)
    assert refusal is not None
    assert f" {kind} address" in refusal


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.215.14",
        "64:ff9b::808:808", "::ffff:8.8.8.8", "::ffff:0:8.8.8.8",  # 8.8.8.8 in IPv6 forms
    ],
)  # fmt: skip
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


# The IPv6 forms that carry an IPv4 address to the wire in their last 32 bits.
IPV4_IN_IPV6: dict[str, Callable[[ipaddress.IPv4Address], ipaddress.IPv6Address]] = {
    "IPv4-mapped ::ffff:0:0/96": lambda v4: ipaddress.IPv6Address(0xFFFF << 32 | int(v4)),
    "IPv4-translated ::ffff:0:0:0/96": lambda v4: ipaddress.IPv6Address(0xFFFF << 48 | int(v4)),
    "NAT64 64:ff9b::/96": lambda v4: ipaddress.IPv6Address(
        int(ipaddress.IPv6Address("64:ff9b::")) | int(v4)
    ),
}
GUARDS = {
    "default": DestinationGuard(),
    "allowing loopback and 10.1/16": DestinationGuard(parse_networks(LOOPBACK + ",10.1.0.0/16")),
}


def six_to_four(v4: ipaddress.IPv4Address) -> ipaddress.IPv6Address:
    """A host on the 6to4 site 2002:<IPv4>::/48."""
    return ipaddress.IPv6Address(0x2002 << 112 | int(v4) << 80 | 1)


def inside(network: ipaddress.IPv4Network) -> st.SearchStrategy[ipaddress.IPv4Address]:
    low, high = int(network.network_address), int(network.broadcast_address)
    return st.integers(low, high).map(ipaddress.IPv4Address)


# Drawn from the refused IPv4 ranges themselves: random addresses are mostly public.
REFUSED_IPV4 = st.sampled_from(
    [net for _, net in REFUSED_RANGES if isinstance(net, ipaddress.IPv4Network)]
).flatmap(inside)


@given(v4=st.ip_addresses(v=4), form=st.sampled_from(sorted(IPV4_IN_IPV6)))
@pytest.mark.parametrize("guard", GUARDS.values(), ids=GUARDS.keys())
def test_an_ipv4_address_in_ipv6_form_is_judged_as_the_ipv4_address(
    guard: DestinationGuard, v4: ipaddress.IPv4Address, form: str
) -> None:
    carried = IPV4_IN_IPV6[form](v4)
    assert guard.refusal(str(carried)) == guard.refusal(str(v4)), carried


@given(v4=REFUSED_IPV4)
def test_every_ipv6_form_of_a_refused_ipv4_address_is_refused(v4: ipaddress.IPv4Address) -> None:
    guard = DestinationGuard()
    assert guard.refusal(str(v4)) is not None
    for form, carry in IPV4_IN_IPV6.items():
        assert guard.refusal(str(carry(v4))) is not None, form
    assert guard.refusal(str(six_to_four(v4))) is not None


@given(v4=st.ip_addresses(v=4))
def test_6to4_is_refused_whatever_ipv4_address_it_embeds(v4: ipaddress.IPv4Address) -> None:
    address = six_to_four(v4)
    assert DestinationGuard().refusal(str(address)) == f"{address} is a 6to4 address"
