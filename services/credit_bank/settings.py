from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class CreditBankSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_CREDIT_BANK_", extra="ignore")

    name: str = "credit_bank"
    port: int = 8003
