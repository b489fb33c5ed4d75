"""The dashboard in headless Chromium on the six real processes with the demo data: an admin signs
in with a token and sees figures and non-empty SVG charts. The screenshot goes to
``SKILLPASS_SCREENSHOTS`` (docs/img when refreshing the docs) or a temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kit.auth import mint_token
from tests.browser.cdp import DESKTOP, Browser, start_browser
from tests.e2e.test_platform import platform  # noqa: F401  (the fixture: the real processes)

ISSUER, AUDIENCE = "https://skillpass.local/gateway", "skillpass"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    started = start_browser()
    if started is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: install the distribution's package")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
async def demo(platform: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """``make run``'s demo data (catalogue, assessment, graduate counts), then one sync of every feed."""
    from services.assessment.demo import load_demo as assessment_demo
    from services.statistics.demo import load_demo as statistics_demo
    from skillpass.registry import ALL
    from skillpass.seed import _with_session

    spec = {s.name: s for s in ALL}
    dev, db_admin, passwords = platform["dev"], platform["db_admin"], platform["passwords"]
    await _with_session(
        db_admin,
        spec["assessment"],
        lambda s: assessment_demo(s, learner_key=dev.learner_id_key, pii_key=dev.pii_key),
        passwords,
    )
    await _with_session(db_admin, spec["statistics"], statistics_demo, passwords)
    admin = mint_token(platform["key"], sub="dashboard-admin", role="admin", issuer=ISSUER, audience=AUDIENCE)
    async with httpx.AsyncClient(base_url=platform["urls"]["gateway"], timeout=60) as client:
        r = await client.post("/api/statistics/v1/sync", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200, r.text
        # The service's own poller may have got there first: what counts is what the read model holds.
        assert {x["source"]: x["status"] for x in r.json()} == dict.fromkeys(
            ("assessment", "catalogue", "credit_bank", "incentives"), "synced"
        ), r.text
        certificates = await client.get(
            "/api/statistics/v1/statistics/certificates", headers={"Authorization": f"Bearer {admin}"}
        )
        coverage = await client.get(
            "/api/statistics/v1/statistics/catalogue_coverage", headers={"Authorization": f"Bearer {admin}"}
        )
    assert certificates.json()["totals"]["issued"] == 266, certificates.text  # the demo's 266 passes
    assert coverage.json()["totals"]["entries"] > 0, coverage.text
    return {"gateway": platform["urls"]["gateway"], "admin": admin}


def test_dashboard_renders_figures_and_charts(browser: Browser, demo: dict[str, Any]) -> None:
    browser.viewport({**DESKTOP, "height": 1000})
    browser.goto(demo["gateway"] + "/dashboard")
    assert browser.eval("!!document.querySelector('textarea#token')")
    browser.type("textarea#token", demo["admin"])
    browser.click_and_load("#sign-in")
    browser.wait_for("document.querySelectorAll('svg.chart').length === 4")
    issued = int(browser.text("#fig-issued"))
    assert issued > 0
    # Each chart has bars with real size on screen.
    sizes = browser.eval(
        """Array.from(document.querySelectorAll('section.card')).map(s => [s.id,
             Array.from(s.querySelectorAll('rect.bar')).filter(r => {
               const b = r.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length])"""
    )
    assert {name: n > 0 for name, n in sizes} == {
        "chart-month": True,
        "chart-occupations": True,
        "chart-coverage": True,
        "chart-districts": True,
    }, sizes
    # Every label is drawn inside its chart: none runs off the left edge (or any other).
    outside = browser.eval(
        """Array.from(document.querySelectorAll('svg.chart')).flatMap(svg => {
             const box = svg.getBoundingClientRect();
             return Array.from(svg.querySelectorAll('text')).filter(t => {
               const b = t.getBoundingClientRect();
               return b.left < box.left - 1 || b.right > box.right + 1; }).map(t => t.textContent); })"""
    )
    assert outside == [], outside
    assert "奉贤区" in browser.text("#district-table")
    assert browser.eval("document.scripts.length") == 0
    assert browser.console_errors() == []
    shots = Path(os.environ.get("SKILLPASS_SCREENSHOTS") or "/tmp/skillpass-screens")
    browser.screenshot(shots / "dashboard.png")
    assert (shots / "dashboard.png").stat().st_size > 10_000
