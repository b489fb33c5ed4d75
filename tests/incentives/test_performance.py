"""University performance: indicators from assessment's feed, weighted, ranked, and a pool split in fen."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from services.incentives import feed_sync, performance
from services.incentives.performance import Scored

RULES = json.loads((Path(__file__).parents[2] / "services/incentives/data/university_performance.json").read_text())[
    "rules"
]


def test_largest_remainder_adds_up_to_the_pool_exactly():
    scored = [Scored("u-a", {}, Decimal(1), 1), Scored("u-b", {}, Decimal(1), 1), Scored("u-c", {}, Decimal(1), 1)]
    assert performance.largest_remainder(100_000_00, scored) == {"u-a": 33_333_34, "u-b": 33_333_33, "u-c": 33_333_33}
    scored = [
        Scored("u-a", {}, Decimal("70"), 1),
        Scored("u-b", {}, Decimal("20.5"), 2),
        Scored("u-c", {}, Decimal("9.5"), 3),
    ]
    split = performance.largest_remainder(1_001, scored)  # 700.7, 205.205, 95.095 → 700+1, 205, 95
    assert split == {"u-a": 701, "u-b": 205, "u-c": 95} and sum(split.values()) == 1_001


def test_equal_scores_share_a_rank():
    values = {org: dict.fromkeys(performance.INDICATORS, Decimal(n)) for org, n in [("u-a", 5), ("u-b", 5), ("u-c", 2)]}
    ranked = performance.score_and_rank(RULES, values)
    assert [(s.org, s.score, s.rank) for s in ranked] == [
        ("u-a", Decimal("100.0000"), 1),
        ("u-b", Decimal("100.0000"), 1),
        ("u-c", Decimal("40.0000"), 3),
    ]


@pytest.fixture
async def three_universities(loaded, assessment):
    """u-a: 4 certificates in 2026 (3 in the catalogue, 2 at level 3+, one by a social body), 2 in 2025;
    u-b: 2 in 2026 (1 in the catalogue, both level 4), none before; u-c: 1 level-2 outside the catalogue, 1 in 2025."""
    rows = [
        ("Y000031000123263000001", "l1", "6-31-07-01", 3, "2026-05-10", "u-a"),
        ("Y000031000123263000002", "l2", "6-22-02-01", 4, "2026-05-10", "u-a"),
        ("Y000031000123263000003", "l3", "4-10-01-05", 2, "2026-06-10", "u-a"),
        ("S000031000123263000004", "l3", "6-18-01-01", 4, "2026-06-10", "u-a"),
        ("Y000031000123253000005", "l4", "6-31-07-01", 4, "2025-05-10", "u-a"),
        ("Y000031000123253000006", "l5", "6-31-07-01", 4, "2025-05-10", "u-a"),
        ("Y000031000223264000007", "l6", "6-31-07-01", 4, "2026-05-10", "u-b"),
        ("Y000031000223264000008", "l7", "6-18-01-01", 4, "2026-05-10", "u-b"),
        ("Y000031000323262000009", "l8", "6-18-01-01", 2, "2026-05-10", "u-c"),
        ("Y000031000323252000010", "l9", "6-18-01-01", 4, "2025-05-10", "u-c"),
        ("Y000031000323262000011", "l9", "6-31-07-01", 3, "2026-05-10", "u-c"),
    ]
    for number, learner, code, level, issued_on, org in rows:
        assessment.add(number, learner, code=code, level=level, issued_on=issued_on, org=org)
        # the feed carries the catalogue status assessment recorded on issue
        assessment.events[-1]["data"]["in_catalogue_on_issue"] = code in {"6-31-07-01", "6-22-02-01", "4-10-01-05"}
    assessment.emit("revoked", "Y000031000323262000011", org="u-c")  # a revoked certificate counts for nothing
    async with loaded.app.state.sessionmaker() as session:
        await feed_sync.sync_assessment_feed(session, loaded.app.state.incentives.assessment)
    return loaded


async def test_a_three_university_ranking_and_allocation(three_universities, tokens):
    client = three_universities
    admin = tokens.headers("admin")
    ranking = (await client.get("/v1/performance/rankings", params={"year": 2026}, headers=admin)).json()
    by_org = {r["university_org"]: r for r in ranking["items"]}
    assert by_org["u-a"]["indicators"] == {
        "certified_learners": "3",
        "high_skill_share": "0.5000",
        "catalogue_certificates": "3",
        "employer_assessments": "3",
        "social_assessments": "1",
        "credit_conversions": "0",
        "growth": "1.0000",
    }
    # hand-computed, normalised to the best of the year, weights 15/15/30/10/10/10/10:
    # u-a: 15 + 15*0.5/1 + 30 + 10 + 10 + 0 + 10*1/1 = 82.5
    # u-b: 15*2/3 + 0 + 30*1/3 + 10*2/3 + 0 + 0 + 10*1 = 10 + 10 + 6.6667 + 10 = 36.6667
    # u-c: 15*1/3 + 15*1/1 + 0 + 10*1/3 + 0 + 0 + 0 (growth 1→1 = 0) = 5 + 15 + 3.3333 = 23.3333
    assert [(r["university_org"], r["score"], r["rank"]) for r in ranking["items"]] == [
        ("u-a", "82.5000", 1),
        ("u-b", "36.6667", 2),
        ("u-c", "23.3333", 3),
    ]
    r = await client.post("/v1/performance/allocations", json={"year": 2026, "pool": "1000000.00"}, headers=admin)
    assert r.status_code == 201, r.text
    lines = {line["university_org"]: line["amount_fen"] for line in r.json()["lines"]}
    # 100,000,000 fen × score / 142.5000 = 57,894,736.842 / 25,731,017.544 / 16,374,245.614: the floors
    # leave 2 fen, which go to the largest remainders (u-a .842, u-c .614), not u-b (.544)
    assert lines == {"u-a": 57_894_737, "u-b": 25_731_017, "u-c": 16_374_246}
    assert sum(lines.values()) == 100_000_000
    listed = (await client.get("/v1/performance/allocations", params={"year": 2026}, headers=admin)).json()
    assert [a["id"] for a in listed] == [r.json()["id"]]
    feed = (await client.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    assert [e["data"]["id"] for e in feed if e["type"] == "incentives.allocation.published"] == [r.json()["id"]]


async def test_a_university_sees_only_its_own_performance(three_universities, tokens):
    client = three_universities
    mine = await client.get(
        "/v1/universities/u-b/performance", params={"year": 2026}, headers=tokens.headers("university", org="u-b")
    )
    assert (mine.json()["rank"], mine.json()["score"]) == (2, "36.6667")
    other = await client.get(
        "/v1/universities/u-a/performance", params={"year": 2026}, headers=tokens.headers("university", org="u-b")
    )
    assert other.status_code == 404
    ranking = await client.get(
        "/v1/performance/rankings", params={"year": 2026}, headers=tokens.headers("university", org="u-b")
    )
    assert ranking.status_code == 403
