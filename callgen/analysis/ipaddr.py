"""IP addresses in one textual form, so that addresses from SDP, from a scenario and
from packet headers compare equal (``0:0::1``, ``::0001`` and ``::1`` are one address).

The analyser writes addresses as ``inet_ntop`` does (``127.0.0.1``, ``::1``) and an
endpoint as ``ip:port`` or ``[v6]:port``; everything that compares against them
goes through :func:`canonical_ip` first.
"""

from __future__ import annotations

import ipaddress


def canonical_ip(text: str) -> str:
    """``text`` in the analyser's form when it is an IP address (brackets allowed), else unchanged."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(bare).compressed
    except ValueError:
        return text


def is_ipv6(text: str) -> bool:
    """True for an IPv6 address (brackets allowed)."""
    return ":" in canonical_ip(text)


def endpoint(address: str, port: int) -> str:
    """``ip:port``, or ``[v6]:port`` for IPv6, with the address in canonical form."""
    ip = canonical_ip(address)
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
