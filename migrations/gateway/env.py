from gateway.models import SCHEMA, metadata
from services.kit.migrate import run_env

run_env(SCHEMA, metadata)
