from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class IncentivesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_INCENTIVES_", extra="ignore")

    name: str = "incentives"
    port: int = 8004
    assessment_url: str = "http://127.0.0.1:8002"
    catalogue_url: str = "http://127.0.0.1:8001"
    # The credit bank's feed (conversions) and statistics' graduating-student counts (university performance).
    credit_bank_url: str = "http://127.0.0.1:8003"
    statistics_url: str = "http://127.0.0.1:8005"
    # Answers about occupations change only with a catalogue edition; a minute is fresh enough.
    catalogue_cache_ttl_s: float = 60.0
    # Assessment's feed (revocations and suspensions act on claims; certificates feed performance)
    # and the credit bank's (conversions feed performance).
    feed_poll: bool = True
    feed_poll_interval_s: float = 5.0
    feed_page_size: int = 500
