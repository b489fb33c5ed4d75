from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class CatalogueSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_CATALOGUE_", extra="ignore")

    name: str = "catalogue"
    port: int = 8001
    # The classification edition new rows and lookups use unless a row says otherwise.
    classification: str = "2022"
    # The assessment service, whose certificate feed is the supply signal; no poller when unset.
    assessment_url: str | None = None
    feed_poll_interval_s: float = 30.0
    feed_page_size: int = 500
    max_import_rows: int = 20_000
