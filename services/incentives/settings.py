from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class IncentivesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_INCENTIVES_", extra="ignore")

    name: str = "incentives"
    port: int = 8004
