from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_GATEWAY_", extra="ignore")

    name: str = "gateway"
    port: int = 8000
    # The ES256 signing key: a PEM in the environment (a Kubernetes Secret), or a file that is
    # generated on first run. Retired keys stay published in the JWKS until their tokens expire.
    signing_key_pem: str | None = None
    signing_key_path: Path = PROJECT_ROOT / ".data" / "keys" / "signing-key.pem"
    retired_key_paths: list[Path] = Field(default_factory=list)
    token_ttl_s: int = 3600
    # GET /api/me/summary answers within this total; parts not back by then are "unavailable".
    summary_budget_s: float = 3.0
    catalogue_url: str = "http://127.0.0.1:8001"
    assessment_url: str = "http://127.0.0.1:8002"
    credit_bank_url: str = "http://127.0.0.1:8003"
    incentives_url: str = "http://127.0.0.1:8004"
    statistics_url: str = "http://127.0.0.1:8005"
    upstream_timeout_s: float = 30.0
    upstream_connect_timeout_s: float = 2.0
    upstream_pool_size: int = 100
    # The proxy's client for http:// upstreams: "lean" (gateway/upstream_http.py, asyncio + httptools,
    # ~0.1 ms less CPU per proxied call) or "aiohttp" (as before issue 15; https upstreams and HEAD
    # always go through aiohttp).
    upstream_client: Literal["lean", "aiohttp"] = "lean"
    rate_limit_per_s: float = 200.0
    rate_limit_burst: int = 400
    # "postgres": buckets shared by every gateway replica (a client's limit holds across them);
    # "memory": per process, no database round trip per call; "redis": shared through the Redis at
    # rate_limit_redis_url (e.g. redis://redis:6379/0).
    rate_limit_store: Literal["postgres", "memory", "redis"] = "postgres"
    rate_limit_redis_url: str | None = None
    # A PostgreSQL store is read through per-process leases (kit.ratelimit.LeasedBuckets): a process
    # takes up to rate × lease_s tokens (≤ max_lease) in one round trip. 0 = a round trip per call.
    # Redis is asked on every call (one EVALSHA, cheap enough not to lease).
    rate_limit_lease_s: float = 0.1
    rate_limit_max_lease: int = 100
    # The gateway is the edge: X-Forwarded-For is believed only from a proxy in front of it (an
    # ingress), listed here; by default nobody's, and the socket peer is the client.
    trusted_proxies: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 20 * 1024 * 1024

    def upstreams(self) -> dict[str, str]:
        """URL path segment → base URL."""
        return {
            "catalogue": self.catalogue_url,
            "assessment": self.assessment_url,
            "credit-bank": self.credit_bank_url,
            "incentives": self.incentives_url,
            "statistics": self.statistics_url,
        }
