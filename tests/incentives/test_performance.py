"""University performance: every DOMAIN.md §3 indicator by hand, weighted, ranked, and a pool split in fen."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from services.incentives import conversions_feed, feed_sync, performance
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


def test_a_missing_indicator_scores_zero_and_does_not_set_the_best():
    values = {
        "u-a": {"graduates_certified_share": None, "growth": Decimal(1)},
        "u-b": {"graduates_certified_share": Decimal("0.2"), "growth": Decimal(1)},
    }
    rules = {"indicators": {"graduates_certified_share": {"weight": "0.5"}, "growth": {"weight": "0.5"}}}
    assert [(s.org, s.score) for s in performance.score_and_rank(rules, values)] == [
        ("u-b", Decimal("100.0000")),
        ("u-a", Decimal("50.0000")),
    ]


def test_the_3_6_occupations_are_the_statistics_reference_list():
    """One list, kept as rule data with its source: the same codes as statistics' reference (groups 3 and 6)."""
    root = Path(__file__).parents[2]
    ref = json.loads((root / "services/statistics/data/industries_3_6.json").read_text(encoding="utf-8"))
    codes = {c for i in ref["industries"].values() if i["group"] in ("3", "6") for c in i["occupations"]}
    assert set(RULES["industry_3_6"]["occupations"]) == codes
    assert "4-10-01-05" not in codes  # elder care is a livelihood service, not a "3+6" industry
    assert "DOMAIN.md §4" in RULES["industry_3_6"]["source"]


# Table-driven, one indicator at a time, by hand: facts (number, learner, code, level, issued_on,
# body org, graduation_year, school_org, status), conversions (id, org, posted_on, reversed_on),
# graduate counts {(org, year): n} → u-x's value for 2026 (None: not computable).
Y, S = "Y000031000123263", "S000031000123264"


def fact(n, learner, code="6-31-07-01", level=4, issued_on="2026-05-10", org="u-x", gy=2026, school="u-x", **kw):
    return {
        "number": f"{kw.get('kind', Y)}{n:06d}",
        "learner": learner,
        "code": code,
        "level": level,
        "issued_on": issued_on,
        "org": org,
        "gy": gy,
        "school": school,
        "status": kw.get("status", "valid"),
    }


INDICATOR_CASES = [
    # the share of graduating students certified: distinct learners / the count statistics holds
    ("graduates_certified_share", [fact(1, "l1"), fact(2, "l2"), fact(3, "l2")], [], {("u-x", 2026): 8}, "0.2500"),
    ("graduates_certified_share", [fact(1, "l1")], [], {}, None),  # no count entered: says so
    ("graduates_certified_share", [fact(1, "l1")], [], {("u-x", 2026): 0}, None),
    ("graduates_certified_share", [fact(1, "l1"), fact(2, "l2", gy=2027)], [], {("u-x", 2026): 4}, "0.2500"),
    ("graduates_certified_share", [fact(1, "l1"), fact(2, "l2", status="revoked")], [], {("u-x", 2026): 4}, "0.2500"),
    # a student of u-x certified by another university's social body counts for u-x (their school)
    ("graduates_certified_share", [fact(1, "l1", org="u-y", school="u-x", kind=S)], [], {("u-x", 2026): 2}, "0.5000"),
    # a fact from before assessment published year and school: a Y certificate implies both
    ("graduates_certified_share", [fact(1, "l1", gy=None, school=None)], [], {("u-x", 2026): 2}, "0.5000"),
    ("graduates_certified_share", [fact(1, "l1", gy=None, school=None, issued_on="2026-09-02")], [], {}, None),
    ("high_skill_share", [fact(1, "l1", level=3), fact(2, "l2", level=1), fact(3, "l3", level=4)], [], {}, "0.6667"),
    ("high_skill_share", [fact(1, "l1", level=5)], [], {}, "0.0000"),
    ("catalogue_certificates", [fact(1, "l1"), fact(2, "l2", code="6-18-01-01")], [], {}, "1"),
    # "3+6": 6-31-07-01 and 6-18-01-01 (high-end equipment) count, elder care (livelihood) does not
    (
        "industry_3_6_certificates",
        [fact(1, "l1"), fact(2, "l2", code="6-18-01-01"), fact(3, "l3", code="4-10-01-05")],
        [],
        {},
        "2",
    ),
    ("employer_assessments", [fact(1, "l1"), fact(2, "l2", kind=S), fact(3, "l3")], [], {}, "2"),
    (
        "social_assessments",
        [fact(1, "l1"), fact(2, "l2", kind=S), fact(3, "l3", status="revoked", kind=S)],
        [],
        {},
        "1",
    ),
    # conversions posted in the year in u-x's programmes, not reversed
    (
        "credit_conversions",
        [fact(1, "l1")],
        [
            ("c1", "u-x", "2026-03-01", None),
            ("c2", "u-x", "2026-04-01", "2026-05-01"),
            ("c3", "u-x", "2025-12-01", None),
            ("c4", "u-y", "2026-03-01", None),
            ("c5", "u-x", "2026-12-31", None),
        ],
        {},
        "2",
    ),
    ("growth", [fact(1, "l1"), fact(2, "l2"), fact(3, "l3"), fact(4, "l4", issued_on="2025-05-10")], [], {}, "2.0000"),
    (
        "growth",
        [fact(1, "l1"), fact(4, "l4", issued_on="2025-05-10"), fact(5, "l5", issued_on="2025-06-10")],
        [],
        {},
        "-0.5000",
    ),
    ("growth", [fact(1, "l1")], [], {}, "1.0000"),  # nothing last year
    ("certified_learners", [fact(1, "l1"), fact(2, "l1"), fact(3, "l2")], [], {}, "2"),
]


def feed(assessment, credit_bank, facts, conversions):
    for f in facts:
        assessment.add(
            f["number"],
            f["learner"],
            code=f["code"],
            level=f["level"],
            issued_on=f["issued_on"],
            org=f["org"],
            graduation_year=f["gy"],
            school_org=f["school"],
        )
        # the feed carries the catalogue status assessment recorded on issue
        assessment.events[-1]["data"]["in_catalogue_on_issue"] = f["code"] in {"6-31-07-01", "6-22-02-01", "4-10-01-05"}
        if f["status"] == "revoked":
            assessment.emit("revoked", f["number"], org=f["org"])
    for conversion_id, org, posted_on, reversed_on in conversions:
        credit_bank.emit("posted", conversion_id, org=org, on=posted_on)
        if reversed_on:
            credit_bank.emit("reversed", conversion_id, org=org, on=reversed_on)


async def sync(client):
    ctx = client.app.state.incentives
    async with client.app.state.sessionmaker() as session:
        await feed_sync.sync_assessment_feed(session, ctx.assessment)
        await conversions_feed.sync_credit_bank_feed(session, ctx.credit_bank)


@pytest.mark.parametrize(("indicator", "facts", "conversions", "graduates", "expected"), INDICATOR_CASES)
async def test_each_indicator_by_hand(
    loaded, tokens, assessment, credit_bank, statistics, indicator, facts, conversions, graduates, expected
):
    feed(assessment, credit_bank, facts, conversions)
    statistics.graduates.update(graduates)
    await sync(loaded)
    r = await loaded.get("/v1/universities/u-x/performance", params={"year": 2026}, headers=tokens.headers("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["indicators"][indicator] == expected
    assert (indicator in {m["indicator"] for m in r.json()["missing"]}) == (expected is None)


@pytest.fixture
async def three_universities(loaded, assessment, credit_bank, statistics):
    """2026, by hand (3+6: 6-31-07-01, 6-22-02-01, 6-18-01-01; catalogue: 6-31-07-01, 6-22-02-01, 4-10-01-05):
    u-a: 5 certificates (A1 L3, A2 L4, A3 L2 by its employer body; A4 L4 and A7 L4 by its social body,
         A7 for l10, a student of u-c), 2 in 2025; its graduates l1, l2, l3 of 10; conversions c1, c2
         (c2 reversed) → 1.
    u-b: 2 certificates (L4), none in 2025; graduates l6, l7 of 4; conversions c3, c4, c5 → 3.
    u-c: C1 L2, C4 (a fact from before graduation year and school were published: Y implies both),
         C2 revoked; 1 in 2025; graduates l8, l11 and l10 (certified by u-a) but no count entered."""
    facts = [
        fact(1, "l1", level=3, org="u-a", school="u-a"),
        fact(2, "l2", code="6-22-02-01", org="u-a", school="u-a"),
        fact(3, "l3", code="4-10-01-05", level=2, issued_on="2026-06-10", org="u-a", school="u-a"),
        fact(4, "l3", code="6-18-01-01", issued_on="2026-06-10", org="u-a", school="u-a", kind=S),
        fact(7, "l10", issued_on="2026-07-01", org="u-a", school="u-c", kind=S),
        fact(5, "l4", issued_on="2025-05-10", org="u-a", gy=2025, school="u-a"),
        fact(6, "l5", issued_on="2025-05-10", org="u-a", gy=2025, school="u-a"),
        fact(8, "l6", org="u-b", school="u-b"),
        fact(9, "l7", code="6-18-01-01", org="u-b", school="u-b"),
        fact(10, "l8", code="6-18-01-01", level=2, org="u-c", school="u-c"),
        fact(11, "l9", level=3, org="u-c", school="u-c", status="revoked"),
        fact(12, "l9", code="6-18-01-01", issued_on="2025-05-10", org="u-c", gy=2025, school="u-c"),
        fact(13, "l11", code="4-10-01-05", issued_on="2026-03-01", org="u-c", gy=None, school=None),
    ]
    conversions = [
        ("c1", "u-a", "2026-03-01", None),
        ("c2", "u-a", "2026-03-02", "2026-04-01"),
        ("c3", "u-b", "2026-03-01", None),
        ("c4", "u-b", "2026-05-01", None),
        ("c5", "u-b", "2026-06-01", None),
        ("c6", "u-b", "2025-06-01", None),
    ]
    feed(assessment, credit_bank, facts, conversions)
    statistics.graduates.update({("u-a", 2026): 10, ("u-b", 2026): 4, ("u-a", 2025): 9})
    await sync(loaded)
    return loaded


async def test_a_three_university_ranking_and_allocation(three_universities, tokens, statistics):
    client = three_universities
    admin = tokens.headers("admin")
    ranking = (await client.get("/v1/performance/rankings", params={"year": 2026}, headers=admin)).json()
    by_org = {r["university_org"]: r for r in ranking["items"]}
    assert {org: r["indicators"] for org, r in by_org.items()} == {
        "u-a": {
            "graduates_certified_share": "0.3000",
            "certified_learners": "4",
            "high_skill_share": "0.4000",
            "catalogue_certificates": "4",
            "industry_3_6_certificates": "4",
            "employer_assessments": "3",
            "social_assessments": "2",
            "credit_conversions": "1",
            "growth": "1.5000",
        },
        "u-b": {
            "graduates_certified_share": "0.5000",
            "certified_learners": "2",
            "high_skill_share": "0.0000",
            "catalogue_certificates": "1",
            "industry_3_6_certificates": "2",
            "employer_assessments": "2",
            "social_assessments": "0",
            "credit_conversions": "3",
            "growth": "1.0000",
        },
        "u-c": {
            "graduates_certified_share": None,
            "certified_learners": "2",
            "high_skill_share": "0.5000",
            "catalogue_certificates": "1",
            "industry_3_6_certificates": "1",
            "employer_assessments": "2",
            "social_assessments": "0",
            "credit_conversions": "0",
            "growth": "1.0000",
        },
    }
    assert (by_org["u-a"]["graduating_students"], by_org["u-a"]["graduating_certified"]) == (10, 3)
    assert (by_org["u-c"]["graduating_students"], by_org["u-c"]["graduating_certified"]) == (None, 3)
    assert by_org["u-c"]["missing"] == [
        {
            "indicator": "graduates_certified_share",
            "reason": "no graduating-student count is entered for this university and year",
        }
    ]
    assert statistics.calls == [{"year": "2026"}]
    # hand-computed, each indicator normalised to the year's best, weights 15/15/25/10/7.5/7.5/10/10 (%):
    # best: share 0.5, high 0.5, catalogue 4, 3+6 4, employer 3, social 2, conversions 3, growth 1.5
    # u-a: 15*.3/.5 + 15*.4/.5 + 25 + 10 + 7.5 + 7.5 + 10*1/3 + 10 = 9+12+25+10+7.5+7.5+3.3333+10 = 84.3333
    # u-b: 15 + 0 + 25/4 + 10*2/4 + 7.5*2/3 + 0 + 10 + 10/1.5 = 15+6.25+5+5+10+6.6667 = 47.9167
    # u-c: 0 (missing) + 15 + 25/4 + 10/4 + 7.5*2/3 + 0 + 0 + 10/1.5 = 15+6.25+2.5+5+6.6667 = 35.4167
    assert [(r["university_org"], r["score"], r["rank"]) for r in ranking["items"]] == [
        ("u-a", "84.3333", 1),
        ("u-b", "47.9167", 2),
        ("u-c", "35.4167", 3),
    ]
    r = await client.post("/v1/performance/allocations", json={"year": 2026, "pool": "1000000.00"}, headers=admin)
    assert r.status_code == 201, r.text
    lines = {line["university_org"]: line["amount_fen"] for line in r.json()["lines"]}
    # 100,000,000 fen × score / 167.6667 = 50,298,180.855 / 28,578,543.026 / 21,123,276.119: the floors
    # leave 1 fen, which goes to the largest remainder (u-a .855), not u-c (.119) or u-b (.026)
    assert lines == {"u-a": 50_298_181, "u-b": 28_578_543, "u-c": 21_123_276}
    assert sum(lines.values()) == 100_000_000
    listed = (await client.get("/v1/performance/allocations", params={"year": 2026}, headers=admin)).json()
    assert [a["id"] for a in listed] == [r.json()["id"]]
    feed_events = (await client.get("/v1/events", headers=tokens.headers("platform"))).json()["events"]
    assert [e["data"]["id"] for e in feed_events if e["type"] == "incentives.allocation.published"] == [r.json()["id"]]


async def test_statistics_unreachable_is_a_503_not_an_invented_share(three_universities, tokens, statistics):
    statistics.down = True
    r = await three_universities.get("/v1/performance/rankings", params={"year": 2026}, headers=tokens.headers("admin"))
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")


async def test_the_credit_bank_feed_is_applied_exactly_once(loaded, credit_bank):
    from services.incentives.models import CreditConversion

    credit_bank.emit("posted", "c1", on="2026-03-01")
    credit_bank.emit("posted", "c2", on="2026-03-01")
    credit_bank.emit("reversed", "c1", on="2026-12-31")
    credit_bank.emit("reversed", "c1", on="2027-01-02")  # a second reversal changes nothing
    ctx = loaded.app.state.incentives
    async with loaded.app.state.sessionmaker() as session:
        first = await conversions_feed.sync_credit_bank_feed(session, ctx.credit_bank, page_size=2)
        async with session.begin():
            from services.incentives.models import FeedCursor

            (await session.get(FeedCursor, "credit_bank")).cursor = None  # read the whole feed again
        again = await conversions_feed.sync_credit_bank_feed(session, ctx.credit_bank)
        rows = {r.conversion_id: (r.posted_on, r.reversed_on) for r in (await session.exec(select(CreditConversion)))}
    assert (first.applied, again.applied) == (4, 0)
    assert rows == {"c1": (date(2026, 3, 1), date(2026, 12, 31)), "c2": (date(2026, 3, 1), None)}


async def test_a_university_sees_only_its_own_performance(three_universities, tokens):
    client = three_universities
    mine = await client.get(
        "/v1/universities/u-b/performance", params={"year": 2026}, headers=tokens.headers("university", org="u-b")
    )
    assert (mine.json()["rank"], mine.json()["score"]) == (2, "47.9167")
    other = await client.get(
        "/v1/universities/u-a/performance", params={"year": 2026}, headers=tokens.headers("university", org="u-b")
    )
    assert other.status_code == 404
    ranking = await client.get(
        "/v1/performance/rankings", params={"year": 2026}, headers=tokens.headers("university", org="u-b")
    )
    assert ranking.status_code == 403
