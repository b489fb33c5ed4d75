"""The connection budget: the CLI check and the start-up warning."""

import logging

from typer.testing import CliRunner

from services.kit.app import create_service_app, warn_connection_budget
from services.kit.settings import ServiceSettings
from skillpass.cli import app as cli
from skillpass.registry import ALL
from tests.support.fixtures import shared_settings_for_tests


def test_cli_passes_and_fails_on_the_limit():
    # One pool of 10 per process in the registry, plus 10 headroom.
    demand = 10 * len(ALL) + 10
    ok = CliRunner().invoke(cli, ["check-connections", "--max-connections", "100"])
    assert ok.exit_code == 0 and f"= {demand} of 100 (ok)" in ok.output
    over = CliRunner().invoke(cli, ["check-connections", "--max-connections", str(demand - 1)])
    assert over.exit_code == 1 and "(OVER)" in over.output


def test_cli_reads_the_kubernetes_overlay():
    r = CliRunner().invoke(cli, ["check-connections", "--manifests", "deploy/k8s/overlays/example"])
    assert r.exit_code == 0 and "pgbouncer max_client_conn" in r.output


async def test_startup_warns_when_peers_sized_alike_would_pass_max_connections(test_db, caplog):
    def app_with(replicas: int):
        s = ServiceSettings(
            name="catalogue",
            database_url=test_db.role_urls["catalogue"],
            shared=shared_settings_for_tests(),
            db_max_replicas=replicas,
        )
        return create_service_app(s, title="t", schema="catalogue", routers=[])

    with caplog.at_level(logging.WARNING, logger="skillpass.app"):
        small = app_with(1)
        await warn_connection_budget(small)
        assert not [r for r in caplog.records if "connection budget" in r.getMessage()]
        big = app_with(10)  # 5 × 10 × (5 + 5) + 10 = 510 > 300
        await warn_connection_budget(big)
    messages = [r.getMessage() for r in caplog.records if "connection budget" in r.getMessage()]
    assert messages and "510 exceeds max_connections 300" in messages[0]
    await small.state.engine.dispose()
    await big.state.engine.dispose()
