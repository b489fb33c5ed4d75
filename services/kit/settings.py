"""Settings shared by every process, and the base each service's settings extend.

Shared values (environment, token issuer, keys for personal data) are read from ``SKILLPASS_*``;
a service's own values (port, database URL, pool size) from ``SKILLPASS_<NAME>_*``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PLACEHOLDER = "dev-only-change-me"


class SharedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    token_issuer: str = "https://skillpass.local/gateway"
    token_audience: str = "skillpass"
    jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    # Where student tokens from the city's identity provider are trusted from (optional).
    idp_issuer: str | None = None
    idp_jwks_url: str | None = None
    # Keyed hash for learner_id and AES-GCM key for ID numbers: 32+ bytes, hex or text.
    learner_id_key: str = DEV_PLACEHOLDER
    pii_key: str = DEV_PLACEHOLDER
    # Where services get their own tokens (client credentials) to call each other.
    token_url: str = "http://127.0.0.1:8000/auth/token"
    http_timeout_s: float = 5.0
    http_connect_timeout_s: float = 2.0

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> SharedSettings:
        if self.env != "dev":
            for name in ("learner_id_key", "pii_key"):
                value = getattr(self, name)
                if value == DEV_PLACEHOLDER or len(value) < 32:
                    raise ValueError(f"SKILLPASS_{name.upper()} must be a real secret of 32+ characters outside dev")
        return self


class ServiceSettings(BaseSettings):
    """Base for a service's settings; subclasses set ``env_prefix`` and defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    name: str = "service"
    host: str = "127.0.0.1"
    port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/skillpass"
    # Ten kept connections and no overflow: the same peak as 5 + 5, but a busy process no longer
    # opens and closes overflow connections (TLS + SCRAM each) under steady load (issue 15, B1).
    db_pool_size: int = 10
    db_max_overflow: int = 0
    # Behind PgBouncer in transaction mode prepared statements must be off.
    db_statement_cache: bool = True
    # A pooled connection idle this long is pinged before use; busier ones are not (kit/db.py).
    db_ping_after_idle_s: float = 10.0
    # For the start-up connection-budget warning: the most replicas this process may run
    # (the HPA's maxReplicas) and how many processes share the database server.
    db_max_replicas: int = 1
    db_processes_sharing: int = 5
    max_body_bytes: int = 20 * 1024 * 1024
    # Peers whose X-Forwarded-For is believed (addresses or CIDRs): for a service the gateway
    # (loopback in `make run`; the pod network in Kubernetes). Everyone else's is ignored.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    feed_max_limit: int = 1000
    # This service's own OAuth client (role "service") for calls to other services.
    client_id: str | None = None
    client_secret: str | None = None
    shared: SharedSettings = Field(default_factory=SharedSettings)

    @model_validator(mode="after")
    def _refuse_placeholder_db_password(self) -> ServiceSettings:
        if self.shared.env != "dev" and ":dev@" in self.database_url:
            raise ValueError(f"{self.name}: database password is the dev placeholder outside dev")
        return self
