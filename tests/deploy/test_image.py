"""deploy/Dockerfile and the health check it runs: read statically (no Docker engine here)."""

from __future__ import annotations

import re
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from skillpass import healthcheck
from skillpass.registry import ALL

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
# Continuation lines joined: one instruction per entry.
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def _all(keyword: str) -> list[str]:
    return [i.split(None, 1)[1] for i in INSTRUCTIONS if i.split(None, 1)[0] == keyword]


def test_multi_stage_build_on_a_supported_python_slim():
    (image,) = [a.split("=", 1)[1] for a in _all("ARG") if a.startswith("PYTHON_IMAGE=")]
    version = re.fullmatch(r"python:(3\.\d+)-slim", image)
    assert version is not None, image
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(version[1] + ".0"), (image, requires)
    froms = _all("FROM")
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]


def test_runs_as_the_non_root_user_the_manifests_expect():
    assert _all("USER") == ["10001:10001"]
    deployment = next(yaml.safe_load_all((ROOT / "deploy/k8s/base/catalogue.yaml").read_text()))
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


def test_installs_the_pinned_dependencies_and_every_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runs = _all("RUN")
    assert "pip install --require-hashes -r requirements.lock" in runs
    assert any(r.startswith("pip install --no-deps -e .") for r in runs)
    assert "pyproject.toml requirements.lock ./" in _all("COPY")
    copied = {c.split()[0] for c in _all("COPY") if not c.startswith("--from")}
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"migrations"} <= copied
    allowed = {
        line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    assert packages | {"migrations", "pyproject.toml", "requirements.lock"} <= allowed


def test_exposes_the_registry_ports_and_serves_the_chosen_process():
    assert sorted(int(p) for p in _all("EXPOSE")[0].split()) == sorted(p.port for p in ALL)
    assert _all("CMD") == ['["sh", "-c", "exec skillpass serve \\"$SKILLPASS_PROCESS\\""]']
    assert any("SKILLPASS_PROCESS=gateway" in e for e in _all("ENV"))
    (check,) = _all("HEALTHCHECK")
    assert check.endswith('CMD ["python", "-m", "skillpass.healthcheck"]')


@pytest.mark.parametrize("spec", ALL, ids=lambda p: p.name)
def test_health_check_url_follows_the_process_and_its_port(spec):
    assert healthcheck.default_url({"SKILLPASS_PROCESS": spec.name}) == f"http://127.0.0.1:{spec.port}/healthz"
    moved = {"SKILLPASS_PROCESS": spec.name, f"SKILLPASS_{spec.name.upper()}_PORT": "9999"}
    assert healthcheck.default_url(moved) == "http://127.0.0.1:9999/healthz"


def test_health_check_paths_are_served(routes):
    for spec in ALL:
        assert routes.serves(spec.name, "/healthz")


def test_health_check_refuses_an_unknown_process():
    with pytest.raises(SystemExit, match="unknown SKILLPASS_PROCESS"):
        healthcheck.default_url({"SKILLPASS_PROCESS": "billing"})


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_health_check_exit_code_follows_the_answer():
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert healthcheck.main([f"{base}/healthz"]) == 0
        assert healthcheck.main([f"{base}/readyz"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert healthcheck.main([f"{base}/healthz"]) == 1, "nothing listens any more"
