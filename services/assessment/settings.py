from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

from .keys import CredentialKeySpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class AssessmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_ASSESSMENT_", extra="ignore")

    name: str = "assessment"
    port: int = 8002
    catalogue_url: str = "http://127.0.0.1:8001"
    # Answers about occupations change only with a catalogue edition; a minute is fresh enough.
    catalogue_cache_ttl_s: float = 60.0
    # The learner record (CLR) adds the credit bank's conversions; without it the CLR says so.
    credit_bank_url: str = "http://127.0.0.1:8003"
    max_batch_records: int = 10_000
    # Public verification: a token bucket per client IP.
    verify_rate_per_s: float = 1.0
    verify_burst: int = 20
    # "postgres": the buckets in assessment.rate_buckets, one limit across every replica;
    # "memory": per process.
    verify_rate_limit_store: Literal["postgres", "memory"] = "postgres"
    # The ES256 key that signs Verifiable Credentials and status lists: a PEM in the environment
    # (one Secret shared by every replica), or a file generated on first start.
    credential_key_pem: str | None = None
    credential_key_path: Path = PROJECT_ROOT / ".data" / "keys" / "credential-key.pem"
    # Rotation (docs/operations.md): more keys as JSON, e.g.
    # [{"pem": "...", "signs_from": "2027-01-01T00:00:00+08:00"}, {"public_jwk": {...}}].
    credential_keys: list[CredentialKeySpec] = Field(default_factory=list)
    # This service as verifiers reach it (through the gateway): status-list URLs in credentials.
    public_url: str = "http://127.0.0.1:8000/api/assessment"
