"""Difference-in-differences on a constructed example, computed by hand."""

from __future__ import annotations

from typing import Any

from .support import FakeFeed

BODY = {"id": "body-1", "kind": "employer", "district": "闵行区", "university_org": "univ-a"}


def _feeds() -> tuple[FakeFeed, FakeFeed]:
    """Edition ed-2026 takes effect 2026-08-01 and lists A and B. Window: 3 months each side.
    before (2026-05-01..07-31): A 2, B 0, C 3, D 1      after (08-01..10-31): A 6, B 2, C 4, D 1
    Outside the window (ignored): A on 2026-04-30 and 2026-11-01."""
    assessment = FakeFeed()
    assessment.add("assessment.body.filed", BODY)
    issued = {
        "6-25-02-05": ["2026-05-10", "2026-07-31", *["2026-08-01"] * 3, "2026-09-15", "2026-10-31", "2026-10-02"],
        "2-02-38-01": ["2026-08-20", "2026-09-01"],
        "4-10-01-05": [
            "2026-05-01",
            "2026-06-01",
            "2026-07-01",
            "2026-08-05",
            "2026-08-06",
            "2026-09-07",
            "2026-10-08",
        ],
        "4-03-02-08": ["2026-06-15", "2026-09-15"],
    }
    issued["6-25-02-05"] += ["2026-04-30", "2026-11-01"]
    n = 0
    for code, days in issued.items():
        for day in days:
            n += 1
            assessment.add(
                "assessment.certificate.issued",
                {
                    "number": f"Y{n:021d}",
                    "learner_id": f"l{n}",
                    "occupation_code": code,
                    "level": 4,
                    "body_id": "body-1",
                    "university_org": "univ-a",
                    "issued_on": day,
                    "status": "valid",
                    "in_catalogue_on_issue": False,
                },
            )
    catalogue = FakeFeed()
    catalogue.add(
        "catalogue.edition.published", {"edition_id": "ed-2026", "title": "2026 版", "effective_from": "2026-08-01"}
    )
    catalogue.routes["/v1/editions/ed-2026/entries"] = [
        {"id": "e1", "occupation_code": "6-25-02-05", "min_level": 3, "industries": []},
        {"id": "e2", "occupation_code": "2-02-38-01", "min_level": 3, "industries": []},
    ]
    return assessment, catalogue


async def test_difference_in_differences_table(statistics: Any, tokens: Any) -> None:
    assessment, catalogue = _feeds()
    async with statistics({"assessment": assessment.transport(), "catalogue": catalogue.transport()}) as (_, client):
        await client.post("/v1/sync", headers=tokens.headers("admin"))
        r = await client.get(
            "/v1/effects", params={"edition_id": "ed-2026", "months": 3}, headers=tokens.headers("admin")
        )
        assert r.status_code == 200, r.text
        table = r.json()
    assert (table["before"], table["after"]) == (["2026-05-01", "2026-07-31"], ["2026-08-01", "2026-10-31"])
    # In the edition: A 2→6, B 0→2: 2 occupations, 2→8, per occupation 1.0→4.0 (+3.0).
    assert table["in_edition"] == {
        "occupations": 2,
        "before": 2,
        "after": 8,
        "change": 6,
        "per_occupation_before": 1.0,
        "per_occupation_after": 4.0,
        "per_occupation_change": 3.0,
    }
    # Outside: C 3→4, D 1→1: 4→5, per occupation 2.0→2.5 (+0.5).
    assert table["outside"] == {
        "occupations": 2,
        "before": 4,
        "after": 5,
        "change": 1,
        "per_occupation_before": 2.0,
        "per_occupation_after": 2.5,
        "per_occupation_change": 0.5,
    }
    assert table["difference_in_differences"] == 2.5
    assert [(o["occupation_code"], o["group"], o["before"], o["after"]) for o in table["occupations"]] == [
        ("2-02-38-01", "in_edition", 0, 2),
        ("4-03-02-08", "outside", 1, 1),
        ("4-10-01-05", "outside", 3, 4),
        ("6-25-02-05", "in_edition", 2, 6),
    ]


async def test_effects_need_a_published_edition_and_admin(statistics: Any, tokens: Any) -> None:
    async with statistics({"catalogue": FakeFeed().transport()}) as (_, client):
        r = await client.get("/v1/effects", params={"edition_id": "nope"}, headers=tokens.headers("admin"))
        assert r.status_code == 404 and r.json()["type"].endswith("/edition-not-found")
        r = await client.get(
            "/v1/effects", params={"edition_id": "nope"}, headers=tokens.headers("university", org="u")
        )
        assert r.status_code == 403
        # The platform reads statistics but changes nothing, not even when the feeds are followed.
        assert (await client.post("/v1/sync", headers=tokens.headers("platform"))).status_code == 403
        assert (await client.get("/v1/statistics/certificates", headers=tokens.headers("platform"))).status_code == 200


async def test_year_on_year_growth_where_the_year_before_exists(statistics: Any, tokens: Any) -> None:
    feed = FakeFeed()
    feed.add("assessment.body.filed", BODY)
    days = {"2025-03-10": "6-25-02-05", "2025-03-11": "6-25-02-05", "2026-03-01": "6-25-02-05"}
    days |= {"2026-03-02": "6-25-02-05", "2026-03-03": "6-25-02-05", "2026-04-01": "4-10-01-05"}
    for n, (day, code) in enumerate(days.items()):
        feed.add(
            "assessment.certificate.issued",
            {
                "number": f"S{n:021d}",
                "learner_id": f"l{n}",
                "occupation_code": code,
                "level": 3,
                "body_id": "body-1",
                "university_org": "univ-a",
                "issued_on": day,
                "status": "valid",
                "in_catalogue_on_issue": True,
            },
        )
    async with statistics({"assessment": feed.transport()}) as (_, client):
        await client.post("/v1/sync", headers=tokens.headers("admin"))
        by_year = (
            await client.get("/v1/statistics/certificates?group_by=year", headers=tokens.headers("admin"))
        ).json()
        by_month = (
            await client.get("/v1/statistics/certificates?group_by=month", headers=tokens.headers("admin"))
        ).json()
    assert [(r["year"], r["issued"], r["issued_yoy"]) for r in by_year["rows"]] == [(2025, 2, None), (2026, 4, 1.0)]
    assert [(r["month"], r["issued"], r["issued_yoy"]) for r in by_month["rows"]] == [
        ("2025-03", 2, None),
        ("2026-03", 3, 0.5),
        ("2026-04", 1, None),
    ]
    assert "issued_yoy" in by_year["columns"]
