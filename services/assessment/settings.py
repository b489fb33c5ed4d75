from pydantic_settings import SettingsConfigDict

from services.kit.settings import ServiceSettings


class AssessmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SKILLPASS_ASSESSMENT_", extra="ignore")

    name: str = "assessment"
    port: int = 8002
