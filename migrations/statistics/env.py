from services.kit.migrate import run_env
from services.statistics.models import SCHEMA, metadata

run_env(SCHEMA, metadata)
