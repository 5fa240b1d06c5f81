"""The destination guard (design §5): which addresses a postback may connect to.

Publishers choose their URLs, so a URL is untrusted input: without this guard a configuration
could make the dispatcher call the cloud metadata service, a database on the private network or
the dispatcher's own ops port. The guard decides on an IP address, never on a name; the HTTP
client (`http_client.py`) asks it about the very address it then connects to, so a name that
resolves to a public address when saved and to a private one later (DNS rebinding) is caught.
"""

from __future__ import annotations

import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK = "127.0.0.0/8,::1/128"

# Named ranges, so a refusal says which kind of place the address is. Order matters only for the
# name in the message: the first range that holds the address names it.
REFUSED_RANGES: tuple[tuple[str, IPNetwork], ...] = tuple(
    (kind, ipaddress.ip_network(cidr))
    for kind, cidr in (
        ("cloud metadata", "169.254.169.254/32"),
        ("cloud metadata", "fd00:ec2::254/128"),
        ("cloud metadata", "100.100.100.200/32"),  # Alibaba Cloud
        ("loopback", "127.0.0.0/8"),
        ("loopback", "::1/128"),
        ("unspecified", "0.0.0.0/8"),
        ("unspecified", "::/128"),
        ("private", "10.0.0.0/8"),
        ("private", "172.16.0.0/12"),
        ("private", "192.168.0.0/16"),
        ("private", "fc00::/7"),
        ("link-local", "169.254.0.0/16"),
        ("link-local", "fe80::/10"),
        ("carrier-grade NAT", "100.64.0.0/10"),
        ("multicast", "224.0.0.0/4"),
        ("multicast", "ff00::/8"),
        ("reserved", "240.0.0.0/4"),  # 255.255.255.255 included
        ("reserved", "192.0.0.0/24"),
        ("documentation", "192.0.2.0/24"),
        ("documentation", "198.51.100.0/24"),
        ("documentation", "203.0.113.0/24"),
        ("documentation", "2001:db8::/32"),
        ("benchmarking", "198.18.0.0/15"),
        ("reserved", "100::/64"),  # discard-only
        ("reserved", "2001::/23"),  # IETF protocol assignments (Teredo, ORCHID…)
        # 6to4 (deprecated by RFC 7526; no publisher needs it) reaches a host behind the embedded
        # IPv4 router through relays routing picks, so that address alone cannot clear it.
        ("6to4", "2002::/16"),
        ("reserved", "64:ff9b:1::/48"),  # local-use NAT64
        ("reserved", "::/96"),  # deprecated IPv4-compatible addresses
    )
)


# IPv6 forms whose last 32 bits are the IPv4 address the packets reach: each is judged as that
# address, so a refused IPv4 address stays refused in every form. Not refused outright: an
# IPv6-only host behind DNS64 reaches every IPv4-only publisher at 64:ff9b::<IPv4>.
IPV4_CARRIERS = (
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped (RFC 4291)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64's well-known prefix (RFC 6052)
)


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """`POSTBACKS_ALLOWED_NETWORKS`: comma-separated CIDRs, or `none` (or empty) for none."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return ()
    networks = []
    for part in text.split(","):
        cidr = part.strip()
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            raise ValueError(
                f"{cidr!r} is not a network in CIDR form (e.g. 10.1.0.0/16 or ::1/128); "
                "separate several with commas, or write none"
            ) from None
    return tuple(networks)


class DestinationGuard:
    """Refuses loopback, private, link-local, CGNAT, multicast, reserved and metadata addresses
    unless an allowed network holds them."""

    def __init__(self, allowed: tuple[IPNetwork, ...] = ()) -> None:
        self._allowed = allowed

    def refusal(self, address: str) -> str | None:
        """Why `address` may not be connected to, or None when it may."""
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in IPV4_CARRIERS):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)  # e.g. ::ffff:10.0.0.1 -> 10.0.0.1
        if any(ip in network for network in self._allowed if network.version == ip.version):
            return None
        for kind, network in REFUSED_RANGES:
            if network.version == ip.version and ip in network:
                article = "an" if kind[0] in "aeiou" else "a"
                return f"{ip} is {article} {kind} address"
        if not ip.is_global:
            return f"{ip} is not a public address"
        return None
