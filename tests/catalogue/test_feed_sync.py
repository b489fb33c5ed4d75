"""The supply signal from assessment's feed, faked with httpx.MockTransport."""

from __future__ import annotations

import asyncio

import httpx

from services.catalogue.app import create_app
from services.catalogue.feed_sync import sync_assessment_feed
from services.catalogue.settings import CatalogueSettings
from services.kit.http import ServiceClient
from tests.support.fixtures import app_client, shared_settings_for_tests


def issued(i, code, level, on):
    return {
        "id": i,
        "type": "assessment.certificate.issued",
        "occurred_at": f"{on}T08:00:00Z",
        "subject": f"Y00003100000126{i:06d}",
        "data": {"occupation_code": code, "level": level, "issued_on": on},
    }


EVENTS = [
    issued(1, "6-31-07-01", 3, "2026-08-10"),
    issued(2, "6-31-07-01", 3, "2026-09-10"),
    {
        "id": 3,
        "type": "assessment.body.created",
        "occurred_at": "2026-09-10T08:00:00Z",
        "subject": "b",
        "data": {},
    },
    issued(4, "2-02-10-09", 4, "2026-09-11"),  # an old code: counted under its successor
    {
        "id": 5,
        "type": "assessment.certificate.revoked",
        "occurred_at": "2026-10-02T08:00:00Z",
        "subject": "c",
        "data": {"occupation_code": "6-31-07-01", "level": 3, "issued_on": "2026-08-10"},
    },
    {
        "id": 6,
        "type": "assessment.certificate.issued",
        "occurred_at": "2026-10-02T08:00:00Z",
        "subject": "d",
        "data": {"level": 3},
    },  # malformed: no occupation
    issued(7, "6-31-07-01", 2, "2026-10-03"),  # next quarter
]


class FakeAssessment:
    """GET /v1/events with cursors ``"<index>"``; counts calls; can answer 410 once."""

    def __init__(self, events):
        self.events = events
        self.calls: list[dict] = []
        self.gone_once = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/events"
        params = dict(request.url.params)
        self.calls.append(params)
        if self.gone_once and "after" in params:
            self.gone_once = False
            return httpx.Response(410, json={"type": "gone", "status": 410})
        start = int(params.get("after", "0"))
        page = self.events[start : start + int(params["limit"])]
        return httpx.Response(200, json={"events": page, "next_cursor": str(start + len(page))})


def supply_of(body, code):
    item = next(i for i in body["items"] if i["occupation_code"] == code)
    return item["inputs"]["certificates_issued"], item["inputs"]["certificates_revoked"], item["reasons"]


async def test_sync_counts_issued_and_revoked_once(client, admin, session, demo):
    fake = FakeAssessment(EVENTS)
    assessment = ServiceClient("assessment", "http://assessment", transport=httpx.MockTransport(fake))
    result = await sync_assessment_feed(session, assessment, page_size=2)
    assert result.model_dump() == {"pages": 5, "events": 7, "applied": 5, "skipped": 1, "cursor": "7"}
    assert [c.get("after") for c in fake.calls] == [None, "2", "4", "6", "7"]
    r = await client.get("/v1/recommendations", params={"period": "2026-Q3", "as_of": "2026-11-26"}, headers=admin)
    body = r.json()
    assert body["certificate_feed"]["connected"] is True
    assert body["certificate_feed"]["cursor"] == "7"
    robots_issued, robots_revoked, reasons = supply_of(body, "6-31-07-01")
    assert (robots_issued, robots_revoked) == (2, 1)
    assert not any("assessment feed" in reason for reason in reasons)
    assert supply_of(body, "2-02-38-01")[:2] == (1, 0)
    assert supply_of(body, "4-03-02-08")[2][-1] == "no certificates issued in 2026-Q3 according to the assessment feed"
    # Nothing new: one call from the stored cursor, nothing counted twice.
    again = await sync_assessment_feed(session, assessment, page_size=2)
    assert (again.pages, again.applied, fake.calls[-1].get("after")) == (1, 0, "7")
    # A cursor past the kept history (410): re-list from the start; applied events are skipped.
    fake.gone_once = True
    relisted = await sync_assessment_feed(session, assessment, page_size=10)
    assert (relisted.events, relisted.applied, relisted.cursor) == (7, 0, "7")
    r = await client.get("/v1/recommendations", params={"period": "2026-Q3", "as_of": "2026-11-26"}, headers=admin)
    assert supply_of(r.json(), "6-31-07-01")[:2] == (2, 1)
    r = await client.get("/v1/events", params={"limit": 1000}, headers=admin)
    updates = [e for e in r.json()["events"] if e["type"] == "catalogue.certificate_supply.updated"]
    assert [(u["data"]["issued"], u["data"]["revoked"]) for u in updates] == [(2, 0), (1, 0), (0, 1), (1, 0)]


async def test_poller_runs_in_the_lifespan_only_when_configured(test_db, signing_key, tokens):
    fake = FakeAssessment(EVENTS[:2])
    settings = CatalogueSettings(
        database_url=test_db.role_urls["catalogue"],
        shared=shared_settings_for_tests(),
        assessment_url="http://assessment",
        feed_poll_interval_s=0.02,
    )
    app = create_app(settings, assessment_transport=httpx.MockTransport(fake))
    async with app_client(app, test_db.engine("catalogue"), signing_key) as client:
        async with app.router.lifespan_context(app):
            for _ in range(200):
                if len(fake.calls) >= 3:
                    break
                await asyncio.sleep(0.01)
        assert app.state.feed_poller.done()
        r = await client.get("/v1/events", params={"limit": 100}, headers=tokens.headers("platform"))
        updates = [e["data"] for e in r.json()["events"] if e["type"] == "catalogue.certificate_supply.updated"]
        assert updates == [{"issued": 2, "revoked": 0, "occupations": ["6-31-07-01"]}]
    plain = create_app(
        CatalogueSettings(database_url=test_db.role_urls["catalogue"], shared=shared_settings_for_tests())
    )
    async with plain.router.lifespan_context(plain):
        assert getattr(plain.state, "feed_poller", None) is None
