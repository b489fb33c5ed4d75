"""The lock files match pyproject.toml, cover every Python from 3.11 up, and are what is installed.

``requirements.lock`` (runtime: the image) and ``requirements-dev.lock`` (runtime + dev tools:
``make run`` / ``make test``) come from ``make lock`` (uv, universal resolution, hashes).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")


@dataclass(frozen=True)
class Pin:
    version: str
    marker: Marker | None
    hashes: frozenset[str]


def read_lock(name: str) -> tuple[str, dict[str, Pin]]:
    text = (ROOT / name).read_text()
    pins: dict[str, Pin] = {}
    for block in re.split(r"\n(?=\S)", text):
        first = block.splitlines()[0]
        match = PIN.match(first)
        if match is None:
            continue
        marker = Marker(match["marker"]) if match["marker"] else None
        hashes = frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", block))
        pins[canonicalize_name(match["name"])] = Pin(match["version"], marker, hashes)
    return text, pins


LOCKS = {name: read_lock(name) for name in ("requirements.lock", "requirements-dev.lock")}


def extra_requirements(req: Requirement) -> list[Requirement]:
    """What ``name[extra]`` adds, from the installed (= locked) distribution's metadata."""
    out = []
    for raw in metadata.requires(req.name) or []:
        dep = Requirement(raw)
        if dep.marker is not None and any(dep.marker.evaluate({"extra": e}) for e in req.extras):
            out.append(dep)
    return out


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [("requirements.lock", RUNTIME), ("requirements-dev.lock", RUNTIME + DEV)],
)
def test_every_dependency_in_pyproject_is_pinned_within_its_range(lock, requirements):
    _, pins = LOCKS[lock]
    missing, outside = [], []
    for req in requirements + [d for r in requirements if r.extras for d in extra_requirements(r)]:
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
            continue
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            missing.append(str(req))
        elif not req.specifier.contains(pin.version, prereleases=True):
            outside.append(f"{req} but {pin.version}")
    assert (missing, outside) == ([], []), "run `make lock` after changing pyproject.toml"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_has_hashes_and_the_resolution_covers_every_python_from_311(lock):
    text, pins = LOCKS[lock]
    assert len(pins) > 40
    assert [name for name, pin in pins.items() if not pin.hashes] == []
    header = text.splitlines()[1]
    assert "--universal" in header and "--python-version 3.11" in header and "--generate-hashes" in header
    assert SpecifierSet(PROJECT["requires-python"]) == SpecifierSet(">=3.11")
    # Universal: a pin limited to some Pythons would say so in a marker; none exclude 3.11–3.13.
    for pin in pins.values():
        if pin.marker is None:
            continue
        if re.fullmatch(r'python_full_version < "3\.11\.\d+"', str(pin.marker)):
            continue  # a backport for early 3.11 patch releases (redis → async-timeout below 3.11.3)
        for version in ("3.11", "3.12", "3.13"):
            env = {"python_version": version, "python_full_version": f"{version}.0", "sys_platform": "linux"}
            env |= {"platform_python_implementation": "CPython", "implementation_name": "cpython"}
            assert pin.marker.evaluate(env) or "win32" in str(pin.marker), (pin, version)


def test_the_dev_lock_keeps_every_runtime_pin():
    _, runtime = LOCKS["requirements.lock"]
    _, dev = LOCKS["requirements-dev.lock"]
    assert {n: (p.version, p.hashes) for n, p in dev.items() if n in runtime} == {
        n: (p.version, p.hashes) for n, p in runtime.items()
    }


def test_this_environment_runs_the_locked_versions():
    _, pins = LOCKS["requirements-dev.lock"]
    differ = {}
    for name, pin in pins.items():
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pin.version:
            differ[name] = (pin.version, installed)
    assert differ == {}, "reinstall from the lock (make test does)"
