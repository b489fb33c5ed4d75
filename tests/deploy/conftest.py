"""What the deployment files are checked against: the code's processes, settings and routes."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from pydantic_settings import BaseSettings
from starlette.routing import Match

from services.kit.auth import SigningKey
from services.kit.settings import ServiceSettings, SharedSettings
from skillpass.registry import ALL, ProcessSpec

SETTINGS_CLASSES: dict[str, type[ServiceSettings]] = {
    "gateway": importlib.import_module("gateway.settings").GatewaySettings,
    "catalogue": importlib.import_module("services.catalogue.settings").CatalogueSettings,
    "assessment": importlib.import_module("services.assessment.settings").AssessmentSettings,
    "credit_bank": importlib.import_module("services.credit_bank.settings").CreditBankSettings,
    "statistics": importlib.import_module("services.statistics.settings").StatisticsSettings,
    "incentives": importlib.import_module("services.incentives.settings").IncentivesSettings,
}
# Read by the `skillpass migrate` command, not by a settings class.
MIGRATE_ENV = {"SKILLPASS_ADMIN_DATABASE_URL", *(f"SKILLPASS_{p.name.upper()}_DB_PASSWORD" for p in ALL)}


def _env_names(cls: type[BaseSettings], prefix: str, skip: set[str]) -> set[str]:
    return {prefix + name.upper() for name in cls.model_fields if name not in skip}


@dataclass(frozen=True)
class EnvNames:
    """Every environment variable a process's settings read."""

    shared: frozenset[str]
    per_process: dict[str, frozenset[str]]

    def for_process(self, name: str) -> frozenset[str]:
        return self.shared | self.per_process[name]

    def all(self) -> frozenset[str]:
        return self.shared.union(*self.per_process.values())


@pytest.fixture(scope="session")
def migrate_env() -> set[str]:
    return MIGRATE_ENV


@pytest.fixture(scope="session")
def env_names() -> EnvNames:
    shared = frozenset(_env_names(SharedSettings, "SKILLPASS_", set()))
    per = {}
    for name, cls in SETTINGS_CLASSES.items():
        prefix = cls.model_config.get("env_prefix", "")
        assert prefix == f"SKILLPASS_{name.upper()}_", f"{cls.__name__} env prefix is {prefix!r}"
        # `shared` is its own settings object and `name` a constant; neither comes from the env.
        per[name] = frozenset(_env_names(cls, prefix, {"shared", "name"}))
    return EnvNames(shared, per)


class Routes:
    """Which paths a process's app serves, asked of its router (no request is sent)."""

    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.apps = apps

    def serves(self, process: str, path: str, method: str = "GET") -> bool:
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": "",
            "path_params": {},
            "headers": [],
            "query_string": b"",
        }
        return any(route.matches(scope)[0] == Match.FULL for route in self.apps[process].router.routes)


@pytest.fixture(scope="session")
def routes() -> Routes:
    """Each process's app, built with its own settings class (no database is touched)."""
    out: dict[str, FastAPI] = {}
    pem = SigningKey.generate().private_pem.decode()
    for spec in ALL:
        module, _, factory = spec.app.partition(":")
        create_app = getattr(importlib.import_module(module), factory)
        # Keys from settings, so building the apps never writes under .data.
        extra = {"gateway": {"signing_key_pem": pem}, "assessment": {"credential_key_pem": pem}}.get(spec.name, {})
        app = create_app(SETTINGS_CLASSES[spec.name](**extra))
        out[spec.name] = app
    return Routes(out)


@pytest.fixture(scope="session")
def settings_classes() -> dict[str, type[ServiceSettings]]:
    return SETTINGS_CLASSES


@pytest.fixture(scope="session")
def processes() -> dict[str, ProcessSpec]:
    return {p.name: p for p in ALL}
