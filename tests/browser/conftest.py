"""Browser tests: the five real processes (the e2e platform) and one headless Chromium.

Chromium is the distribution's package (``.ci/run`` installs it); without it these tests skip on
a developer's machine and fail in CI, where a skip would hide a broken page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.kit.auth import mint_token
from tests.assessment.asm_support import make_id_number, make_uscc

from .cdp import Browser, start_browser

ISSUER, AUDIENCE = "https://skillpass.local/gateway", "skillpass"
OCCUPATION = "6-25-02-05"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    started = start_browser()
    if started is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs the distribution's package")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``SKILLPASS_SCREENSHOTS`` (e.g. docs/img) or a temporary folder."""
    wanted = os.environ.get("SKILLPASS_SCREENSHOTS")
    return Path(wanted) if wanted else tmp_path_factory.mktemp("screens")


@dataclass
class Demo:
    gateway: str
    assessment: str
    valid: str
    revoked: str
    holder: str
    revoked_holder: str
    admin: str
    holder_token: str


def bearer(plat: dict[str, Any], role: str, **kw: Any) -> str:
    return mint_token(plat["key"], role=role, issuer=ISSUER, audience=AUDIENCE, **kw)


@pytest.fixture(scope="session")
def platform(shared_platform: dict[str, Any]) -> dict[str, Any]:
    """The session's shared platform (the real processes): the pages are checked on this package's
    own body, certificates and holders; both modules use the one demo below, made once a session
    (xdist may run other modules between them, which would end a package-scoped one)."""
    return shared_platform


@pytest.fixture(scope="session")
async def demo(platform: dict[str, Any]) -> Demo:
    """Two certificates issued through the gateway the way a university does it; one revoked."""
    from services.kit.pii import learner_id

    gw = platform["urls"]["gateway"]
    admin = bearer(platform, "admin", sub="browser-admin")
    univ = {"Authorization": "Bearer " + bearer(platform, "university", sub="sis", org="univ-browser")}
    admin_h = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=gw, timeout=20) as client:
        body = await client.post(
            "/api/assessment/v1/bodies",
            headers=admin_h,
            json={
                "name": "浏览器示范大学(用人单位评价机构)",
                "uscc": make_uscc(515151),
                "kind": "employer",
                "university_org": "univ-browser",
                "district": "闵行区",
            },
        )
        assert body.status_code == 201, body.text
        filing = await client.post(
            f"/api/assessment/v1/bodies/{body.json()['id']}/filings",
            headers=admin_h,
            json={
                "filing_no": "BROWSER-2026-1",
                "scope": [{"occupation_code": OCCUPATION, "levels": [3, 4]}],
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
            },
        )
        assert filing.status_code == 201, filing.text
        records = [
            {
                "external_id": f"b{n}",
                "occupation_code": OCCUPATION,
                "level": 3,
                "exam_date": "2026-11-20",
                "theory_score": 82,
                "practical_score": 77,
                "candidate": {
                    "id_number": make_id_number(700 + n),
                    "name": name,
                    "student_no": f"B{n}",
                    "school_org": "univ-browser",
                    "graduation_year": 2027,
                    "major": "智能制造工程",
                },
            }
            for n, name in enumerate(("王小明", "李雷"))
        ]
        batch = await client.post(
            "/api/assessment/v1/batches",
            headers={**univ, "Idempotency-Key": "browser-1"},
            json={"body_id": body.json()["id"], "mode": "partial", "records": records},
        )
        assert batch.status_code == 201, batch.text
        valid, revoked = (row["certificate_number"] for row in batch.json()["rows"])
        r = await client.post(
            f"/api/assessment/v1/certificates/{revoked}/revoke", headers=admin_h, json={"reason": "考试舞弊"}
        )
        assert r.json()["status"] == "revoked", r.text
    holder = learner_id(make_id_number(700), platform["dev"].learner_id_key)
    return Demo(
        gateway=gw,
        assessment=platform["urls"]["assessment"],
        valid=valid,
        revoked=revoked,
        holder="王小明",
        revoked_holder="李雷",
        admin=admin,
        holder_token=bearer(platform, "student", sub=holder),
    )
