from pathlib import Path

from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings

DATA_DIR = Path(__file__).resolve().parent / "data"


class CreditBankSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_CREDIT_BANK_", extra="ignore")

    name: str = "credit_bank"
    port: int = 8003
    # Certificates are checked with assessment; its feed reverses credits of revoked ones.
    # No feed follower when unset.
    assessment_url: str | None = "http://127.0.0.1:8002"
    feed_poll_interval_s: float = 5.0
    feed_page_size: int = 500
    # The conversion policy values no public source gives (DOMAIN.md §5 RULE DEFAULTS), as data.
    policy_path: Path = DATA_DIR / "conversion_policy.json"
