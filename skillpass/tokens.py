"""Dev and operator tokens signed with the gateway's key (``skillpass token``, the runner's seeding).

Its own module so that the runner and the CLI both use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.kit.auth import Role


def gateway_token(
    *, sub: str, role: Role, org: str | None = None, scopes: Iterable[str] = (), ttl_s: int = 3600
) -> str:
    """A token as the gateway would issue it, from the gateway's settings and key."""
    from gateway.app import load_keys  # the gateway app is heavy: only when a token is wanted
    from gateway.settings import GatewaySettings
    from services.kit.auth import mint_token
    from services.kit.settings import SharedSettings

    shared = SharedSettings()
    key, _ = load_keys(GatewaySettings())
    return mint_token(
        key,
        sub=sub,
        role=role,
        org=org,
        scopes=scopes,
        issuer=shared.token_issuer,
        audience=shared.token_audience,
        ttl_s=ttl_s,
    )


def admin_token(ttl_s: int = 3600) -> str:
    return gateway_token(sub="dev-admin", role="admin", ttl_s=ttl_s)
