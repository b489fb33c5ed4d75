"""Local environment: where the data lives, the database to use, and each process's environment."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .bootstrap import DEV_ROLE_PASSWORD, role_url
from .registry import ALL, GATEWAY, SERVICES, ProcessSpec

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("SKILLPASS_DATA_DIR", PROJECT_ROOT / ".data"))
DEFAULT_PG_PORT = int(os.environ.get("SKILLPASS_PG_PORT", "54329"))
DATABASE_NAME = os.environ.get("SKILLPASS_DATABASE_NAME", "skillpass")


def external_admin_url() -> str | None:
    url = os.environ.get("SKILLPASS_ADMIN_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url and url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    return url


def role_passwords() -> dict[str, str]:
    """Per-service role passwords: SKILLPASS_<NAME>_DB_PASSWORD, or the dev one."""
    return {s.name: os.environ.get(f"SKILLPASS_{s.name.upper()}_DB_PASSWORD", DEV_ROLE_PASSWORD) for s in ALL}


@dataclass
class DevSecrets:
    learner_id_key: str
    pii_key: str
    service_clients: dict[str, tuple[str, str]]

    @classmethod
    def load_or_create(cls, data_dir: Path = DATA_DIR) -> DevSecrets:
        """Random per-checkout secrets, so even demo data is sealed with a real key."""
        path = data_dir / "dev-secrets.json"
        if path.exists():
            raw = json.loads(path.read_text())
            made = cls(
                raw["learner_id_key"], raw["pii_key"], {k: (v[0], v[1]) for k, v in raw["service_clients"].items()}
            )
            missing = [s.name for s in SERVICES if s.name not in made.service_clients]
            if not missing:
                return made
            # A service added since this checkout's first run gets its own client too.
            made.service_clients.update({n: (f"svc-{n}", secrets.token_urlsafe(24)) for n in missing})
            made.save(path)
            return made
        made = cls(
            secrets.token_hex(32),
            secrets.token_hex(32),
            {s.name: (f"svc-{s.name}", secrets.token_urlsafe(24)) for s in SERVICES},
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        made.save(path)
        return made

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(
                {
                    "learner_id_key": self.learner_id_key,
                    "pii_key": self.pii_key,
                    "service_clients": self.service_clients,
                },
                indent=2,
            )
        )
        path.chmod(0o600)


def process_env(
    spec: ProcessSpec,
    db_admin_url: str,
    dev: DevSecrets,
    *,
    gateway_port: int = GATEWAY.port,
    ports: dict[str, int] | None = None,
    data_dir: Path = DATA_DIR,
    passwords: dict[str, str] | None = None,
) -> dict[str, str]:
    ports = ports or {s.name: s.port for s in ALL}
    prefix = f"SKILLPASS_{spec.name.upper()}_"
    env = {
        "SKILLPASS_ENV": os.environ.get("SKILLPASS_ENV", "dev"),
        "SKILLPASS_LEARNER_ID_KEY": dev.learner_id_key,
        "SKILLPASS_PII_KEY": dev.pii_key,
        "SKILLPASS_JWKS_URL": f"http://127.0.0.1:{gateway_port}/.well-known/jwks.json",
        "SKILLPASS_TOKEN_URL": f"http://127.0.0.1:{gateway_port}/auth/token",
        prefix + "DATABASE_URL": role_url(db_admin_url, spec, (passwords or role_passwords())[spec.name]),
        prefix + "PORT": str(ports[spec.name]),
    }
    for other in SERVICES:
        env[f"{prefix}{other.name.upper()}_URL"] = f"http://127.0.0.1:{ports[other.name]}"
    if spec.name in dev.service_clients:
        env[prefix + "CLIENT_ID"], env[prefix + "CLIENT_SECRET"] = dev.service_clients[spec.name]
    if spec is GATEWAY:
        env[prefix + "SIGNING_KEY_PATH"] = str(data_dir / "keys" / "signing-key.pem")
    if spec.name == "assessment":
        env[prefix + "CREDENTIAL_KEY_PATH"] = str(data_dir / "keys" / "credential-key.pem")
    return env
