"""docker-compose.yml: valid against the Compose Specification, and in step with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from skillpass.registry import ALL

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")
PLACEHOLDER = "CHANGE_ME"


def _env_example() -> dict[str, str]:
    pairs = [
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    return dict(pairs)


def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(SCHEMA, default=jsonschema.Draft7Validator)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


def test_compose_file_follows_the_compose_specification():
    errors = sorted(_validator().iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_schema_check_catches_a_broken_compose_file():
    broken = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    broken["services"]["catalogue"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["catalogue"]["helthcheck"] = {}
    assert len(list(_validator().iter_errors(broken))) >= 2


def test_postgres_and_the_migrate_job():
    assert re.fullmatch(r"postgres:1[67](\.\d+)?", SERVICES["postgres"]["image"])
    assert SERVICES["postgres"]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["skillpass", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "@postgres:5432/" in migrate["environment"]["SKILLPASS_ADMIN_DATABASE_URL"]


def test_one_compose_service_per_process_and_nothing_else():
    assert set(SERVICES) == {"postgres", "migrate"} | {p.path for p in ALL}


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.name)
def test_each_process_serves_its_port_and_health_path(spec, routes, settings_classes):
    service = SERVICES[spec.path]
    assert service["command"] == ["skillpass", "serve", spec.name]
    prefix = f"SKILLPASS_{spec.name.upper()}_"
    assert service["environment"][prefix + "PORT"] == str(spec.port)
    assert settings_classes[spec.name].model_fields["port"].default == spec.port
    assert service["environment"][prefix + "HOST"] == "0.0.0.0"
    test = service["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", "skillpass.healthcheck"]
    url = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/\S*)", test[4])
    assert url, test
    assert int(url.group(1)) == spec.port
    assert routes.serves(spec.name, url.group(2))


@pytest.mark.parametrize("spec", [p for p in ALL if p.name != "gateway"], ids=lambda p: p.name)
def test_services_start_after_the_migration_and_are_not_published(spec):
    service = SERVICES[spec.path]
    assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "ports" not in service


def test_the_gateway_alone_is_published_and_waits_for_healthy_services():
    gateway = SERVICES["gateway"]
    assert gateway["ports"] == ["8000:8000"]
    assert gateway["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    for spec in ALL:
        if spec.name != "gateway":
            assert gateway["depends_on"][spec.path] == {"condition": "service_healthy"}
    assert [name for name, s in SERVICES.items() if "ports" in s] == ["gateway"]


def test_every_skillpass_variable_is_a_settings_field(env_names, migrate_env):
    for name, service in SERVICES.items():
        if name == "postgres":
            continue
        process = service["command"][-1] if service["command"][1] == "serve" else None
        allowed = env_names.for_process(process) if process else env_names.shared | migrate_env
        unknown = set(service.get("environment", {})) - allowed
        assert not unknown, f"{name}: {sorted(unknown)}"
    example = set(_env_example())
    assert example - {"POSTGRES_PASSWORD"} <= env_names.all() | migrate_env


def test_every_interpolated_variable_is_in_the_env_example():
    used = set(INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text()))
    assert used
    assert used <= set(_env_example())


def test_the_env_example_holds_no_secret_and_env_is_ignored():
    example = _env_example()
    for key, value in example.items():
        if re.search(r"PASSWORD|SECRET|_KEY$", key):
            assert value == PLACEHOLDER, key
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert all(s["env_file"] == ".env" for n, s in SERVICES.items() if n not in ("postgres",))


def _compose_env(name: str) -> dict[str, str]:
    """A container's environment as compose would build it from a filled-in .env."""
    filled = {k: ("stand-in-" + "x" * 32 if v == PLACEHOLDER else v) for k, v in _env_example().items()}
    env = dict(filled)
    for key, value in SERVICES[name].get("environment", {}).items():
        env[key] = INTERPOLATION.sub(lambda m: filled[m.group(1)], str(value))
    return env


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.name)
def test_settings_load_from_the_compose_env(spec, settings_classes, monkeypatch):
    for key, value in _compose_env(spec.path).items():
        monkeypatch.setenv(key, value)
    settings = settings_classes[spec.name]()
    assert settings.shared.env == "prod"
    assert settings.port == spec.port
    assert settings.database_url.startswith(f"postgresql+asyncpg://{spec.role}:stand-in-")
    assert settings.database_url.endswith("@postgres:5432/skillpass")
    if spec.name == "gateway":
        upstreams = {p.path: f"http://{p.path}:{p.port}" for p in ALL if p.name != "gateway"}
        assert settings.upstreams() == upstreams
        assert str(settings.signing_key_path).startswith("/var/lib/skillpass/keys/")
    else:
        assert settings.client_id == f"svc-{spec.path}"
        assert settings.client_secret


def test_shared_urls_point_at_gateway_routes(routes):
    example = _env_example()
    assert example["SKILLPASS_JWKS_URL"] == "http://gateway:8000/.well-known/jwks.json"
    assert example["SKILLPASS_TOKEN_URL"] == "http://gateway:8000/auth/token"
    assert routes.serves("gateway", "/.well-known/jwks.json")
    assert routes.serves("gateway", "/auth/token", "POST")


def test_assessment_reaches_the_services_it_calls(settings_classes, monkeypatch):
    """The catalogue (lookups) and the credit bank (conversions in the learner record), by service name."""
    for key, value in _compose_env("assessment").items():
        monkeypatch.setenv(key, value)
    settings = settings_classes["assessment"]()
    ports = {p.path: p.port for p in ALL}
    assert settings.catalogue_url == f"http://catalogue:{ports['catalogue']}"
    assert settings.credit_bank_url == f"http://credit-bank:{ports['credit-bank']}"


def test_incentives_reaches_the_services_it_calls(settings_classes, monkeypatch):
    """Assessment, the catalogue, the credit bank's feed and statistics' graduate counts, by service name."""
    for key, value in _compose_env("incentives").items():
        monkeypatch.setenv(key, value)
    settings = settings_classes["incentives"]()
    ports = {p.path: p.port for p in ALL}
    assert (settings.assessment_url, settings.catalogue_url) == (
        f"http://assessment:{ports['assessment']}",
        f"http://catalogue:{ports['catalogue']}",
    )
    assert settings.credit_bank_url == f"http://credit-bank:{ports['credit-bank']}"
    assert settings.statistics_url == f"http://statistics:{ports['statistics']}"
