"""Who is on the other end of a request: the address audit metadata and the login throttle key on.

``REMOTE_ADDR`` is the peer of the TCP connection. Behind a load balancer or reverse proxy that is
the proxy, so every client would share one address (one client's bad passwords would lock a
username out for everyone, and every event would record the proxy). The proxies append the
address they received from to ``X-Forwarded-For``; but a client can write anything into that header
before it reaches the first proxy. So the header is read only through hops we trust
(``TRUSTED_PROXIES``): from the right, each entry was appended by the hop after it, and the first
address that is not a trusted proxy is the client. Nothing trusted, nothing read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_ip(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``, or what trusted proxies say they received from."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    trusted = trusted_networks(tuple(settings.TRUSTED_PROXIES))
    peer = _address(remote)
    if peer is None or not _is_trusted(peer, trusted):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        address = _address(hop)
        if address is None:
            # A trusted proxy wrote something that is no address: what lies left of it is unknown,
            # so the last address we can vouch for is the answer.
            return str(peer)
        peer = address
        if not _is_trusted(peer, trusted):
            return str(peer)
    return str(peer)


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` entries as networks; a bare address is a network of one."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _is_trusted(address: Address, trusted: Iterable[Network]) -> bool:
    return any(address in network for network in trusted)


def _address(text: str) -> Address | None:
    """An address as proxies write it: bare, or with a port (``1.2.3.4:80``, ``[::1]:80``)."""
    candidate = text.strip()
    if candidate.startswith("[") and "]" in candidate:
        candidate = candidate[1 : candidate.index("]")]
    elif candidate.count(":") == 1:
        candidate = candidate.partition(":")[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:1.2.3.4) is the IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
