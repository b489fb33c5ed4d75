from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class CatalogueSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_CATALOGUE_", extra="ignore")

    name: str = "catalogue"
    port: int = 8001
