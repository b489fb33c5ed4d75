"""/docs and /redoc in headless Chromium: every service's operations are rendered (the DOM after
Swagger UI ran, not the served HTML), and "Try it out" calls a service through the gateway."""

from __future__ import annotations

import json

import httpx
import pytest

from .cdp import DESKTOP, PHONE, Browser

SERVICES = ("gateway", "catalogue", "assessment", "credit-bank", "incentives")
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def operations(spec: dict) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if m in METHODS}


@pytest.fixture
def desktop(browser: Browser) -> Browser:
    browser.viewport(DESKTOP)
    return browser


RENDERED = """[...document.querySelectorAll('.opblock')].map(op => [
    op.querySelector('.opblock-summary-method').innerText.trim(),
    op.querySelector('.opblock-summary-path').dataset.path])"""


@pytest.mark.parametrize("service", SERVICES)
async def test_docs_list_every_operation_of_each_service(desktop, demo, service, shots):
    async with httpx.AsyncClient(base_url=demo.gateway, timeout=20) as client:
        own = "/openapi.json" if service == "gateway" else f"/api/{service}/openapi.json"
        spec = (await client.get(own)).json()
    expected = operations(spec)
    assert len(expected) >= 3
    desktop.goto(f"{demo.gateway}/docs?service={service}")
    try:
        desktop.wait_for(f"document.querySelectorAll('.opblock').length >= {len(expected)}")
    except TimeoutError:
        pytest.fail(f"{service}'s operations did not render; the page says: {desktop.text('body')[:400]!r}")
    rendered = {tuple(x) for x in desktop.eval(RENDERED)}
    assert rendered == expected
    assert "Unable to render" not in desktop.text("body")
    assert (
        desktop.eval("document.querySelector('.servers select, .servers').innerText")
        .strip()
        .startswith("/" if service == "gateway" else f"/api/{service}")
    )
    assert desktop.console_errors() == []
    if service == "assessment":
        desktop.screenshot(shots / "docs-desktop.png")


def _operation_id(spec: dict, method: str, path: str) -> str:
    op = spec["paths"][path][method]
    return f'[id="operations-{op["tags"][0]}-{op["operationId"]}"]'


async def test_try_it_out_calls_the_service_through_the_gateway_with_a_pasted_token(desktop, demo, shots):
    async with httpx.AsyncClient(base_url=demo.gateway, timeout=20) as client:
        created = await client.post(
            "/api/gateway/v1/clients",
            json={"name": "Docs reader", "role": "platform"},
            headers={"Authorization": f"Bearer {demo.admin}"},
        )
        secret = created.json()
        token = (
            await client.post(
                "/auth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": secret["client_id"],
                    "client_secret": secret["client_secret"],
                },
            )
        ).json()["access_token"]
        spec = (await client.get("/api/catalogue/openapi.json")).json()
        direct = await client.get(
            "/api/catalogue/v1/occupations",
            params={"q": "6-25", "limit": 50},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert direct.status_code == 200 and direct.json()["items"]
    op = _operation_id(spec, "get", "/v1/occupations")
    desktop.goto(f"{demo.gateway}/docs?service=catalogue")
    desktop.wait_for(f"!!document.querySelector('{op}')")
    # Authorize: paste the token into the bearer field.
    desktop.click(".scheme-container .btn.authorize")
    desktop.type(".modal-ux input", token)
    desktop.click(".modal-ux .auth-btn-wrapper .btn.authorize")
    desktop.wait_for("!!document.querySelector('.modal-ux .btn-done')")
    desktop.click(".modal-ux .btn-done")
    # Open the operation, try it out with q=6-25, execute.
    desktop.click(f"{op} .opblock-summary-control")
    desktop.click(f"{op} .try-out__btn")
    desktop.type(f'{op} tr[data-param-name="q"] input', "6-25")
    desktop.click(f"{op} .execute")
    status = desktop.wait_for(
        f"(document.querySelector('{op} .live-responses-table tbody .response-col_status') || {{}}).innerText"
    )
    url = desktop.text(f"{op} .request-url pre")
    body = desktop.text(f"{op} .live-responses-table tbody .response-col_description .highlight-code pre")
    assert status.strip() == "200"
    assert url == f"{demo.gateway}/api/catalogue/v1/occupations?q=6-25&limit=50"  # the default limit is sent too
    assert json.loads(body) == direct.json()
    assert f"Authorization: Bearer {token}" in desktop.text(f"{op} .curl-command")
    desktop.screenshot(shots / "docs-try-it-out.png")


async def test_docs_on_a_phone(browser, demo, shots):
    browser.viewport(PHONE)
    browser.goto(f"{demo.gateway}/docs?service=assessment")
    browser.wait_for("document.querySelectorAll('.opblock').length > 5")
    assert browser.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
    browser.screenshot(shots / "docs-phone.png")


async def test_redoc_renders_each_operation(desktop, demo, shots):
    async with httpx.AsyncClient(base_url=demo.gateway, timeout=20) as client:
        spec = (await client.get("/api/assessment/openapi.json")).json()
    expected = operations(spec)
    desktop.goto(f"{demo.gateway}/redoc?service=assessment")
    desktop.wait_for(f"document.querySelectorAll('[data-section-id^=\"operation/\"]').length >= {len(expected)}")
    ids = desktop.eval(
        "[...document.querySelectorAll('[data-section-id^=\"operation/\"]')].map(e => e.dataset.sectionId)"
    )
    assert len(set(ids)) == len(expected)
    # Redoc always tries its vendor's logo from a CDN (and hides it when that fails): the CSP
    # blocks it, so the page stays offline. Nothing else may fail or leave the gateway.
    errors = desktop.console_errors()
    assert all("https://cdn.redoc.ly/redoc/logo-mini.svg" in e and "Content Security Policy" in e for e in errors)
    desktop.screenshot(shots / "redoc-desktop.png")
