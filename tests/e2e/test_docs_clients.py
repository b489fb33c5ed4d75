"""docs/integration.md's shell blocks run as printed, in order, against the real processes."""

import asyncio
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.fixtures import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def platform(shared_platform):
    """The session's shared platform: the guide's feed walk reads every page and its webhook waits
    for its own edition."""
    return shared_platform


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", markdown, flags=re.S | re.M)


async def test_every_shell_block_of_the_integration_guide_runs(platform, tmp_path):
    blocks = shell_blocks((ROOT / "docs" / "integration.md").read_text())
    assert len(blocks) >= 8
    key = tmp_path / "signing-key.pem"
    key.write_bytes(platform["key"].private_pem)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = {
        **os.environ,
        "GW": platform["urls"]["gateway"],
        "RECEIVER_PORT": str(free_port()),
        "SKILLPASS_GATEWAY_SIGNING_KEY_PATH": str(key),
        "COLUMNS": "200",
    }
    done = await asyncio.to_thread(
        subprocess.run, ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "caught up at" in out
    assert (tmp_path / "mirror" / "catalogue.jsonl").stat().st_size > 0
    assert "DRIFT" not in out and "skillpass reconcile" in out
    assert '"learner_id":"lrn_demo"' in out
    deliveries = (tmp_path / "deliveries.log").read_text().splitlines()
    assert any(
        line.startswith("verified catalogue:") and "catalogue.edition.created False" in line for line in deliveries
    )
    assert any(line.endswith(" True") for line in deliveries), deliveries  # the replay, same event id
    assert '"status":"delivered"' in out and '"last_status_code":204' in out
