from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class StatisticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_STATISTICS_", extra="ignore")

    name: str = "statistics"
    port: int = 8005
    # The services whose change feeds make the read model; a source left unset is not followed.
    catalogue_url: str | None = None
    assessment_url: str | None = None
    credit_bank_url: str | None = None
    incentives_url: str | None = None
    feed_poll_interval_s: float = 30.0
    feed_page_size: int = 500
    # Rows a statistics answer may hold before it is refused (group by fewer dimensions).
    max_rows: int = 50_000
