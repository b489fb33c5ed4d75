"""The client's address, with ``X-Forwarded-For`` believed only from trusted proxies.

The socket peer is the client unless it is a trusted proxy (for a service: the gateway; for the
gateway: an ingress in front of it, none by default). Then ``X-Forwarded-For`` is read from the
right, skipping trusted hops; the first untrusted hop is the client. Hops further left were
written by the client and are never believed. (uvicorn's own ``proxy_headers`` is off.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks: list[Network] = [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip()]

    def trusts(self, address: str | None) -> bool:
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        if not self.trusts(peer) or not forwarded_for:
            return peer or "unknown"
        hops = [h.strip() for h in forwarded_for.split(",")]
        for hop in reversed(hops):
            if not hop:
                continue
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return "invalid"  # a trusted proxy never writes this; do not key on free text
            if not self.trusts(hop):
                return hop
        return peer or "unknown"


def client_address(conn: HTTPConnection) -> str:
    """The client's address for limits and logs (``app.state.trusted_proxies``, set by the kit)."""
    trusted: TrustedProxies = getattr(conn.app.state, "trusted_proxies", None) or TrustedProxies(())
    peer = conn.client.host if conn.client else None
    # Several X-Forwarded-For lines count as one list, in order (RFC 9110 field combination).
    lines = [v.decode("latin-1") for k, v in conn.scope.get("headers") or () if k == b"x-forwarded-for"]
    return trusted.client(peer, ", ".join(lines) if lines else None)
