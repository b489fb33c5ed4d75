"""Every statistic reproduced on a hand-made data set written through the public APIs of the real
apps, in-process: the catalogue's edition and entries through the catalogue's, certificates through
assessment's, credit conversions through the credit bank's, points evaluations, subsidy claims,
decisions and payments through incentives'. The apps reach one another, and statistics follows all
four /v1/events feeds, through ASGI transports; the gateway test puts the statistics app behind a
real socket and the gateway's own proxy. No feed page here is built by hand, except the legacy
evaluation events no API can make any more (last test)."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.catalogue import demo as catalogue_demo
from services.kit.auth import SigningKey
from tests.assessment.asm_support import make_body, make_uscc, record, unique, upload
from tests.support.fixtures import app_client, free_port, shared_settings_for_tests

from .support import FakeFeed


@pytest.fixture(scope="module")
async def own_db(pg_server: str, test_db: Any) -> AsyncIterator[dict[str, AsyncEngine]]:
    """A database of its own: other tests commit certificates to the shared one, and these tests
    read assessment's whole feed from the start."""
    from skillpass.bootstrap import bootstrap, role_url
    from skillpass.registry import ALL

    db_admin = await bootstrap(pg_server, "skillpass_stats_" + uuid.uuid4().hex[:8], test_db.passwords)
    spec = {s.name: s for s in ALL}
    names = ("catalogue", "assessment", "credit_bank", "incentives", "statistics")
    urls = {n: role_url(db_admin, spec[n], test_db.passwords[n]) for n in names}
    engines = {n: create_async_engine(u) for n, u in urls.items()}
    yield engines
    for engine in engines.values():
        await engine.dispose()


class _AsService(httpx.AsyncBaseTransport):
    """An in-process app called the way a service calls another: with its service token."""

    def __init__(self, app: Any, token: str) -> None:
        self.inner, self.token = httpx.ASGITransport(app=app), token

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["authorization"] = f"Bearer {self.token}"
        return await self.inner.handle_async_request(request)


# The classification rows the data set uses, imported through the catalogue's API.
OCCUPATIONS = [
    {"code": "6-25-02-05", "name": "工业机器人系统运维员", "major_name": "生产制造及有关人员"},
    {"code": "2-02-38-01", "name": "人工智能工程技术人员", "major_name": "专业技术人员"},
    {"code": "4-10-01-05", "name": "养老护理员", "major_name": "社会生产服务和生活服务人员"},
    {"code": "6-12-05-03", "name": "疫苗制品工", "major_name": "生产制造及有关人员"},
]
# The edition's entries: (code, lowest level listed, industries). 6-25-02-05 is listed down to level 4;
# 6-12-05-03 is listed but nobody is certified in it (an entry without certificates); 4-10-01-05 is
# certified but not listed.
ENTRIES = [
    ("6-25-02-05", 4, ["high_end_equipment"]),
    ("2-02-38-01", 3, ["artificial_intelligence"]),
    ("6-12-05-03", 3, ["biomedicine"]),
]
EFFECTIVE_FROM = "2026-08-01"


@pytest.fixture
async def catalogue(own_db: dict[str, AsyncEngine], signing_key: Any, tokens: Any) -> Any:
    """The catalogue's app with the data set's classification, industry tags and one published
    edition, all written through its API: ``(app, client, edition_id)``."""
    from services.catalogue.app import create_app
    from services.catalogue.settings import CatalogueSettings

    app = create_app(CatalogueSettings(database_url=str(own_db["catalogue"].url), shared=shared_settings_for_tests()))
    async with app_client(app, own_db["catalogue"], signing_key) as client:
        admin = tokens.headers("admin")
        r = await client.post("/v1/occupations/import", json=OCCUPATIONS, headers=admin)
        assert (r.status_code, r.json()["rejected"]) == (200, 0), r.text
        spec = json.loads((Path(catalogue_demo.__file__).parent / "data" / "demo_catalogue.json").read_text())
        r = await client.post("/v1/industries", json=spec["taxonomy"], headers=admin)
        assert r.status_code in (201, 409), r.text
        r = await client.post("/v1/editions", json={"title": "2026 目录"}, headers=admin)
        assert r.status_code == 201, r.text
        edition_id = r.json()["id"]
        for code, min_level, industries in ENTRIES:
            entry = {
                "occupation_code": code,
                "min_level": min_level,
                "industries": industries,
                "shortage_level": 2,
                "reason": "测试数据",
            }
            r = await client.post(f"/v1/editions/{edition_id}/entries", json=entry, headers=admin)
            assert r.status_code == 201, r.text
        r = await client.post(
            f"/v1/editions/{edition_id}/publish", json={"effective_from": EFFECTIVE_FROM}, headers=admin
        )
        assert r.json()["status"] == "published", r.text
        yield app, client, edition_id


@pytest.fixture
async def assessment(own_db: dict[str, AsyncEngine], catalogue: Any, signing_key: Any, tokens: Any) -> Any:
    """Assessment's app, asking the real catalogue whether an occupation is listed when it issues."""
    from services.assessment.app import create_app
    from services.assessment.settings import AssessmentSettings

    app = create_app(
        AssessmentSettings(
            database_url=str(own_db["assessment"].url),
            shared=shared_settings_for_tests(),
            credential_key_pem=SigningKey.generate().private_pem.decode(),
        ),
        catalogue_transport=_AsService(catalogue[0], str(tokens("service", sub="svc-assessment"))),
    )
    async with app_client(app, own_db["assessment"], signing_key) as client:
        yield app, client


@pytest.fixture
async def credit_bank(own_db: dict[str, AsyncEngine], assessment: Any, signing_key: Any, tokens: Any) -> Any:
    """The credit bank's app on the same database, reading certificates from the real assessment."""
    from services.credit_bank.app import create_app
    from services.credit_bank.settings import CreditBankSettings

    app = create_app(
        CreditBankSettings(database_url=str(own_db["credit_bank"].url), shared=shared_settings_for_tests()),
        assessment_transport=_AsService(assessment[0], str(tokens("service", sub="svc-credit-bank"))),
    )
    async with app_client(app, own_db["credit_bank"], signing_key) as client:
        yield app, client


class _Missing(httpx.AsyncBaseTransport):
    """A source answering 404 (no feed yet) while ``missing``, then the real app behind it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.missing = inner, True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.missing:
            return httpx.Response(404, json={"title": "Not Found", "status": 404})
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def incentives(
    own_db: dict[str, AsyncEngine], catalogue: Any, assessment: Any, signing_key: Any, tokens: Any
) -> Any:
    """Incentives' app with its shipped rule sets published through its API, reading the real
    assessment and catalogue."""
    from services.incentives.app import create_app
    from services.incentives.demo import DATA
    from services.incentives.settings import IncentivesSettings

    app = create_app(
        IncentivesSettings(
            database_url=str(own_db["incentives"].url),
            shared=shared_settings_for_tests(),
            assessment_url="http://assessment.test",
            catalogue_url="http://catalogue.test",
            feed_poll=False,
        ),
        assessment_transport=_AsService(assessment[0], str(tokens("service", sub="svc-incentives"))),
        catalogue_transport=_AsService(catalogue[0], str(tokens("service", sub="svc-incentives"))),
    )
    async with app_client(app, own_db["incentives"], signing_key) as client:
        admin = tokens.headers("admin")
        for path in sorted(DATA.glob("*.json")):  # the shipped rule sets, through the API
            r = await client.post("/v1/rulesets", json=json.loads(path.read_text(encoding="utf-8")), headers=admin)
            assert r.status_code == 201, r.text
            r = await client.post(f"/v1/rulesets/{r.json()['id']}/publish", headers=admin)
            assert r.json()["status"] == "published", r.text
        yield app, client


@pytest.fixture
def stats(own_db: dict[str, AsyncEngine], statistics: Any) -> Any:
    """The statistics app on the same database of its own."""
    return lambda transports: statistics(transports, engine=own_db["statistics"])


SCOPE = [
    {"occupation_code": "6-25-02-05", "levels": [3, 4, 5]},
    {"occupation_code": "4-10-01-05", "levels": [3, 4]},
    {"occupation_code": "2-02-38-01", "levels": [3]},
]


async def _hand_made(client: Any, tokens: Any) -> dict[str, Any]:
    """univ-a (employer body, 闵行区): 3 passes at level 4 in 6-25-02-05, 1 at level 3 in 4-10-01-05,
    one fail. univ-b (social body, 浦东新区): 2 passes at level 3 in 2-02-38-01. Then one univ-a
    certificate suspended and one univ-b certificate revoked."""
    a = await make_body(client, tokens, org="univ-a", scope=SCOPE)
    b = (
        await client.post(
            "/v1/bodies",
            headers=tokens.headers("admin"),
            json={
                "name": "浦东社会评价组织",
                "uscc": make_uscc(unique()),
                "kind": "social",
                "district": "浦东新区",
                "university_org": "univ-b",
            },
        )
    ).json()
    r = await client.post(
        f"/v1/bodies/{b['id']}/filings",
        headers=tokens.headers("admin"),
        json={"filing_no": f"沪评备-{unique()}", "scope": SCOPE, "valid_from": "2026-01-01", "valid_to": "2027-12-31"},
    )
    assert r.status_code == 201, r.text
    recs_a = [
        record("a1", school="univ-a"),
        record("a2", school="univ-a"),
        record("a3", school="univ-a"),
        record("a4", school="univ-a", code="4-10-01-05", level=3),
        record("a5", school="univ-a", theory=40),
    ]
    recs_b = [record(f"b{n}", school="univ-x", code="2-02-38-01", level=3) for n in (1, 2)]
    rows_a = (await upload(client, tokens, a["id"], recs_a, org="univ-a")).json()["rows"]
    rows_b = (await upload(client, tokens, b["id"], recs_b, org="univ-b")).json()["rows"]
    assert [bool(r.get("certificate_number")) for r in rows_a + rows_b] == [True] * 4 + [False] + [True] * 2
    admin = tokens.headers("admin")
    number_a, number_b = rows_a[0]["certificate_number"], rows_b[0]["certificate_number"]
    r = await client.post(f"/v1/certificates/{number_a}/suspend", headers=admin, json={"reason": "核查中"})
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/certificates/{number_b}/revoke", headers=admin, json={"reason": "考试舞弊"})
    assert r.status_code == 200, r.text
    return {"a": [r["certificate_number"] for r in rows_a[:4]], "b": [r["certificate_number"] for r in rows_b]}


async def _conversions(credit_bank: Any, asm: Any, tokens: Any, numbers: dict[str, list[str]]) -> None:
    """Through the credit bank's API: a2's holder converts 4.0 credits in a univ-a programme and b2's
    holder 2.5 in a univ-b one; then b2 is revoked in assessment and the credit bank, following
    assessment's feed, reverses that conversion. (Deposits are outcomes, not a statistic.)"""
    from services.credit_bank import feed_sync

    cb_app, cb = credit_bank
    for org, number, code, level, credits in (
        ("univ-a", numbers["a"][1], "6-25-02-05", 4, "4.0"),
        ("univ-b", numbers["b"][1], "2-02-38-01", 3, "2.5"),
    ):
        univ = tokens.headers("university", org=org)
        r = await cb.post(
            "/v1/programmes",
            headers=univ,
            json={
                "university_org": org,
                "code": f"P-{unique()}",
                "name": "智能制造工程",
                "graduation_credits": "160",
                "max_converted_ratio": "0.5",
            },
        )
        assert r.status_code == 201, r.text
        programme_id = r.json()["id"]
        rule = {
            "programme_id": programme_id,
            "occupation_code": code,
            "min_level": level,
            "credits": credits,
            "course_codes": [f"C-{code}"],
            "valid_from": "2025-09-01",
            "valid_to": None,
        }
        r = await cb.post("/v1/rules", headers=univ, json=rule)
        assert r.status_code == 201, r.text
        cert = await asm.get(f"/v1/certificates/{number}", headers=tokens.headers("admin"))
        learner = cert.json()["learner_id"]
        student = tokens.headers("student", sub=learner)
        body = {"learner_id": learner, "kind": "certificate", "certificate_number": number}
        r = await cb.post("/v1/outcomes", headers=student, json=body)
        assert r.status_code == 201, r.text
        body = {"learner_id": learner, "outcome_id": r.json()["outcome_id"], "programme_id": programme_id}
        r = await cb.post("/v1/conversions", headers=student, json=body)
        assert r.status_code == 201, r.text
        assert r.json()["credits"] == credits
    r = await asm.post(
        f"/v1/certificates/{numbers['b'][1]}/revoke", headers=tokens.headers("admin"), json={"reason": "冒名顶替"}
    )
    assert r.status_code == 200, r.text
    async with cb_app.state.sessionmaker() as session:
        result = await feed_sync.sync_assessment_feed(session, cb_app.state.credit_bank.assessment)
    assert result.reversed == 1


async def _learner(asm: Any, tokens: Any, number: str) -> str:
    r = await asm.get(f"/v1/certificates/{number}", headers=tokens.headers("admin"))
    assert r.status_code == 200, r.text
    return str(r.json()["learner_id"])


# 24 + 15 + 2 + 8 (settlement_points.json) + CET6 8 + computer 7 + western service 5 = 69
DECLARED = {
    "degree": "master",
    "school_tier": 1,
    "studied_in_shanghai": True,
    "class_rank_quartile": 1,
    "foreign_language": "CET6",
    "computer": "graduate",
    "western_service": True,
}


async def _incentives(inc: Any, asm: Any, tokens: Any, numbers: dict[str, list[str]]) -> None:
    """Through incentives' API, on the certificates left valid (a2, a3 level 4 in 6-25-02-05, in
    the catalogue; a4 level 3 in 4-10-01-05, not in it) and the revoked b2:
    settlement points (threshold 72, level 3 gives 3 points, level 4 none): a4's holder 69 + 3 = 72,
    passes because of the certificate; a2's 69 + startup 5 = 74, passes anyway; a3's 49 fails.
    Subsidy claims (level 4 1500, level 3 2000, +20% in the catalogue): a2 1800 approved, not paid;
    b2 is ineligible (revoked); a4 2000 approved and paid; a3 1800 rejected."""
    a2, a3, a4, b2 = numbers["a"][1], numbers["a"][2], numbers["a"][3], numbers["b"][1]
    learners = {n: await _learner(asm, tokens, n) for n in (a2, a3, a4, b2)}
    base = {k: DECLARED[k] for k in ("degree", "school_tier", "studied_in_shanghai", "class_rank_quartile")}
    for number, declared, expected in (
        (a4, DECLARED, (72, 3, True)),
        (a2, {**DECLARED, "startup": True}, (74, 0, True)),
        (a3, base, (49, 0, False)),
    ):
        learner = learners[number]
        r = await inc.post(
            "/v1/points/evaluate",
            headers=tokens.headers("student", sub=learner),
            json={"learner_id": learner, "declared": declared},
        )
        assert r.status_code == 200, r.text
        skill = {i["item"]: i["points"] for i in r.json()["items"]}.get("skill_certificate", 0)
        assert (r.json()["total"], skill, r.json()["passes"]) == expected
    admin = tokens.headers("admin")
    claims = {}
    for number, expected in (
        (a2, ("pending", "1800.00")),
        (b2, ("ineligible", None)),
        (a4, ("pending", "2000.00")),
        (a3, ("pending", "1800.00")),
    ):
        learner = learners[number]
        r = await inc.post(
            "/v1/subsidy-claims",
            headers=tokens.headers("student", sub=learner),
            json={"learner_id": learner, "certificate_number": number, "graduation_year": 2027},
        )
        assert r.status_code == 201, r.text
        got = r.json()
        assert (got["status"], got["amount"] and f"{Decimal(got['amount']):.2f}") == expected, got
        claims[number] = got["claim_id"]
    for number, decision in ((a2, "approve"), (a4, "approve"), (a3, "reject")):
        r = await inc.post(
            f"/v1/subsidy-claims/{claims[number]}/decision",
            headers=admin,
            json={"decision": decision, "reason": "审核"},
        )
        assert r.status_code == 200, r.text
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    r = await inc.post(
        f"/v1/subsidy-claims/{claims[a4]}/payment",
        headers=admin,
        json={"amount": "2000.00", "paid_on": today, "reference": "沪财支-0001"},
    )
    assert r.status_code == 201, r.text


async def _get(client: Any, tokens: Any, view: str, role: str = "admin", **params: Any) -> dict[str, Any]:
    r = await client.get(
        f"/v1/statistics/{view}",
        params=params,
        headers=tokens.headers(role, org="univ-a" if role == "university" else None),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _by(answer: dict[str, Any], *dims: str) -> dict[Any, dict[str, Any]]:
    return {tuple(row[d] for d in dims) if len(dims) > 1 else row[dims[0]]: row for row in answer["rows"]}


async def test_every_statistic_on_a_hand_made_data_set(
    catalogue: Any, assessment: Any, credit_bank: Any, incentives: Any, stats: Any, tokens: Any
) -> None:
    asm_app, asm = assessment
    numbers = await _hand_made(asm, tokens)
    await _conversions(credit_bank, asm, tokens, numbers)
    await _incentives(incentives[1], asm, tokens, numbers)
    sources = {
        "assessment": httpx.ASGITransport(app=asm_app),
        "catalogue": httpx.ASGITransport(app=catalogue[0]),
        "credit_bank": httpx.ASGITransport(app=credit_bank[0]),
        "incentives": (feed := _Missing(httpx.ASGITransport(app=incentives[0]))),
    }
    async with stats(sources) as (_, client):
        admin = tokens.headers("admin")
        synced = {s["source"]: s for s in (await client.post("/v1/sync", headers=admin)).json()}
        # A source with no feed yet (incentives still being built) is reported, not fatal.
        assert {k: v["status"] for k, v in synced.items()} == {
            "assessment": "synced",
            "catalogue": "synced",
            "credit_bank": "synced",
            "incentives": "unavailable",
        }
        feed.missing = False
        synced = {s["source"]: s for s in (await client.post("/v1/sync", headers=admin)).json()}
        assert synced["incentives"]["applied"] == 11  # 3 evaluations, 4 claims submitted, 3 decided, 1 paid
        r = await client.put(
            "/v1/graduates",
            headers=admin,
            json={
                "items": [
                    {
                        "university_org": "univ-a",
                        "graduation_year": 2027,
                        "graduating_students": 10,
                        "district": "闵行区",
                        "source": "教委 2027 届毕业生数(测试)",
                    },
                    {
                        "university_org": "univ-b",
                        "graduation_year": 2027,
                        "graduating_students": 5,
                        "district": "浦东新区",
                        "source": "测试",
                    },
                ]
            },
        )
        assert r.json() == {"stored": 2}
        await _assert_statistics(client, tokens, edition_id=catalogue[2])
        before = await _answers(client, tokens)
        # Replay: the same pages again, then every feed from the start, then a rebuild from empty.
        await client.post("/v1/sync", headers=admin)
        assert await _answers(client, tokens) == before
        async with client._transport.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            from sqlalchemy import text

            await session.execute(text("DELETE FROM statistics.feed_cursors"))
            await session.commit()
        replay = {s["source"]: s["applied"] for s in (await client.post("/v1/sync", headers=admin)).json()}
        assert replay == {"assessment": 11, "catalogue": 2, "credit_bank": 3, "incentives": 11}
        assert await _answers(client, tokens) == before
        async with client._transport.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            for table in (
                "feed_cursors",
                "bodies",
                "certificates",
                "certificate_events",
                "editions",
                "edition_entries",
                "conversions",
                "evaluations",
                "subsidy_claims",
            ):
                await session.execute(text(f"DELETE FROM statistics.{table}"))
            await session.commit()
        await client.post("/v1/sync", headers=admin)
        assert await _answers(client, tokens) == before


async def _answers(client: Any, tokens: Any) -> list[dict[str, Any]]:
    out = []
    for view, group_by in (
        ("certificates", "district,university,body_kind,occupation,level"),
        ("graduates", "university,year"),
        ("catalogue_coverage", "edition,occupation"),
        ("conversions", "university"),
        ("points", "scheme"),
        ("subsidies", "status"),
    ):
        out.append(await _get(client, tokens, view, group_by=group_by))
    return out


async def _assert_statistics(client: Any, tokens: Any, *, edition_id: str) -> None:
    certs = await _get(client, tokens, "certificates", group_by="university,level")
    got = {k: (v["issued"], v["suspended"], v["revoked"]) for k, v in _by(certs, "university", "level").items()}
    assert got == {("univ-a", 3): (1, 0, 0), ("univ-a", 4): (3, 1, 0), ("univ-b", 3): (2, 0, 2)}
    t = certs["totals"]
    assert (t["issued"], t["issued_level_3_plus"], t["issued_in_catalogue"], t["issued_industry_3_6"]) == (6, 3, 5, 5)
    assert (t["share_in_catalogue"], t["share_industry_3_6"], t["share_level_3_plus"]) == (0.8333, 0.8333, 0.5)
    by_district = _by(
        await _get(client, tokens, "certificates", group_by="district,body_kind"), "district", "body_kind"
    )
    assert {k: v["issued"] for k, v in by_district.items()} == {("浦东新区", "social"): 2, ("闵行区", "employer"): 4}
    names = await _get(client, tokens, "certificates", group_by="occupation,occupation_name")
    assert [(r["occupation"], r["occupation_name"]) for r in names["rows"]] == [
        ("2-02-38-01", "人工智能工程技术人员"),
        ("4-10-01-05", "养老护理员"),
        ("6-25-02-05", "工业机器人系统运维员"),
    ]
    only_level3 = await _get(client, tokens, "certificates", level=3, group_by="occupation")
    assert {k: v["issued"] for k, v in _by(only_level3, "occupation").items()} == {"2-02-38-01": 2, "4-10-01-05": 1}
    # A university sees its own rows only; the platform everything.
    own = await _get(client, tokens, "certificates", role="university", group_by="university")
    assert [(r["university"], r["issued"]) for r in own["rows"]] == [("univ-a", 4)]
    assert (await _get(client, tokens, "certificates", role="platform"))["totals"]["issued"] == 6
    student = await client.get("/v1/statistics/certificates", headers=tokens.headers("student", sub="lrn-1"))
    assert student.status_code == 403

    grads = _by(await _get(client, tokens, "graduates", group_by="university,year"), "university", "year")
    a = grads[("univ-a", 2027)]
    # Employer-body certificates only: a1..a4 (a1 suspended still counts, a5 failed); univ-b's are social.
    assert (a["graduating_students"], a["certified"], a["certified_level_3_plus"], a["share_certified"]) == (
        10,
        4,
        1,
        0.4,
    )
    assert (grads[("univ-b", 2027)]["certified"], grads[("univ-b", 2027)]["share_certified"]) == (0, 0.0)

    # The edition lists 3 occupations: 2 supplied (a1..a3 in 6-25-02-05, b1 b2 in 2-02-38-01), one not.
    cov = await _get(client, tokens, "catalogue_coverage", group_by="edition")
    row = cov["rows"][0]
    assert (
        row["edition"],
        row["entries"],
        row["entries_with_certificates"],
        row["entries_without_certificates"],
        row["certificates"],
        row["share_supplied"],
    ) == (edition_id, 3, 2, 1, 5, 0.6667)
    per_entry = _by(await _get(client, tokens, "catalogue_coverage", group_by="occupation"), "occupation")
    assert {k: (v["entries_with_certificates"], v["certificates"]) for k, v in per_entry.items()} == {
        "2-02-38-01": (1, 2),
        "6-12-05-03": (0, 0),
        "6-25-02-05": (1, 3),
    }

    # Amounts are decimal strings in every row and total, a zero sum too; counts are integers.
    conv = (await _get(client, tokens, "conversions"))["totals"]
    assert (
        conv["conversions"],
        conv["reversed"],
        conv["credits_converted"],
        conv["credits_reversed"],
        conv["credits_net"],
    ) == (2, 1, "6.5", "2.5", "4.0")
    conv_by = _by(await _get(client, tokens, "conversions", group_by="university"), "university")
    assert {
        k: (v["conversions"], v["reversed"], v["credits_reversed"], v["credits_net"]) for k, v in conv_by.items()
    } == {
        "univ-a": (1, 0, "0.0", "4.0"),
        "univ-b": (1, 1, "2.5", "0.0"),
    }

    pts = (await _get(client, tokens, "points"))["totals"]
    assert (pts["evaluations"], pts["passed"], pts["passed_because_of_skill"], pts["passed_skill_item_unknown"]) == (
        3,
        2,
        1,
        0,
    )

    # Claims: a2 1800 approved, b2 ineligible (no amount), a4 2000 approved and paid, a3 1800 rejected.
    subs = (await _get(client, tokens, "subsidies"))["totals"]
    assert (subs["claimed"], subs["ineligible"], subs["approved"], subs["rejected"], subs["paid"]) == (4, 1, 2, 1, 1)
    assert (subs["amount_claimed"], subs["amount_approved"], subs["amount_paid"]) == ("5600.00", "3800.00", "2000.00")
    by_status = _by(await _get(client, tokens, "subsidies", group_by="status"), "status")
    assert {k: (v["claimed"], v["amount_approved"], v["amount_paid"]) for k, v in by_status.items()} == {
        "approved": (1, "1800.00", "0.00"),
        "ineligible": (1, "0.00", "0.00"),
        "paid": (1, "2000.00", "2000.00"),
        "rejected": (1, "0.00", "0.00"),
    }
    # univ-a's certificates: a2, a3, a4 (b2's claim is univ-b's).
    own_subs = (await _get(client, tokens, "subsidies", role="university"))["totals"]
    assert (own_subs["claimed"], own_subs["ineligible"], own_subs["amount_claimed"], own_subs["amount_paid"]) == (
        3,
        0,
        "5600.00",
        "2000.00",
    )
    # An answer with no rows at all: zero counts are 0, zero amounts still decimal strings.
    nothing = (await _get(client, tokens, "subsidies", org="nobody"))["totals"]
    assert (nothing["claimed"], nothing["amount_claimed"], nothing["amount_paid"]) == (0, "0.00", "0.00")
    nothing = (await _get(client, tokens, "conversions", org="nobody"))["totals"]
    assert (nothing["conversions"], nothing["credits_net"]) == (0, "0.0")
    grads = (await _get(client, tokens, "graduates", org="nobody"))["totals"]
    assert (grads["graduating_students"], grads["certified"], grads["share_certified"]) == (0, 0, None)

    bad = await client.get("/v1/statistics/certificates?group_by=colour", headers=tokens.headers("admin"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "group_by"]


async def test_csv_and_xlsx_export_of_a_view(assessment: Any, stats: Any, tokens: Any) -> None:
    asm_app, asm = assessment
    await _hand_made(asm, tokens)
    async with stats({"assessment": httpx.ASGITransport(app=asm_app)}) as (_, client):
        await client.post("/v1/sync", headers=tokens.headers("admin"))
        params = {"group_by": "district", "format": "csv"}
        r = await client.get("/v1/statistics/certificates", params=params, headers=tokens.headers("admin"))
        assert r.headers["content-type"].startswith("text/csv")
        lines = r.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("district,issued,suspended,reinstated,revoked,")
        assert [line.split(",")[:2] for line in lines[1:]] == [["浦东新区", "2"], ["闵行区", "4"], ["total", "6"]]
        params["format"] = "xlsx"
        r = await client.get("/v1/statistics/certificates", params=params, headers=tokens.headers("admin"))
        sheet = load_workbook(io.BytesIO(r.content)).active
        rows = [[c.value for c in row] for row in sheet.iter_rows()]
        assert [row[:2] for row in rows] == [["district", "issued"], ["浦东新区", 2], ["闵行区", 4], ["total", 6]]


async def test_evaluations_recorded_before_threshold_and_skill_points_were_in_the_event(
    stats: Any, tokens: Any
) -> None:
    """The one statistic no API can produce any more: an evaluation event recorded before incentives
    put ``threshold`` and ``skill_points`` in it counts as "skill item unknown", not as zero. Those
    old events exist only in feeds written then, so this feed is built by hand."""
    feed = FakeFeed()
    ev = {"learner_id": "lrn-1", "scheme": "settlement_points"}
    feed.add("incentives.evaluation.recorded", {**ev, "id": "e1", "total": 75, "passes": True})
    feed.add("incentives.evaluation.recorded", {**ev, "id": "e2", "total": 60, "passes": False})
    async with stats({"incentives": feed.transport()}) as (_, client):
        synced = (await client.post("/v1/sync", headers=tokens.headers("admin"))).json()
        assert {s["source"]: s["applied"] for s in synced}["incentives"] == 2
        pts = (await _get(client, tokens, "points"))["totals"]
        got = tuple(pts[k] for k in ("evaluations", "passed", "passed_because_of_skill", "passed_skill_item_unknown"))
        assert got == (2, 1, 0, 1)


@asynccontextmanager
async def _served(app: Any) -> AsyncIterator[str]:
    """The app (already wired to its rolled-back sessions) behind a real socket, for the gateway's proxy."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task


async def test_the_contract_paths_through_the_gateway(
    catalogue: Any, assessment: Any, incentives: Any, stats: Any, tokens: Any, test_db: Any, signing_key: Any
) -> None:
    """API.md lists statistics and effects under incentives: ``/api/incentives/v1/statistics/{view}``
    and ``/api/incentives/v1/effects`` answer through the gateway exactly as the statistics service's
    own paths do (same tenancy, CSV and XLSX too), while incentives' other paths still reach incentives."""
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    asm_app, asm = assessment
    numbers = await _hand_made(asm, tokens)
    learner = await _learner(asm, tokens, numbers["a"][1])
    sources = {
        "assessment": httpx.ASGITransport(app=asm_app),
        "catalogue": httpx.ASGITransport(app=catalogue[0]),
        "incentives": httpx.ASGITransport(app=incentives[0]),
    }
    async with stats(sources) as (st_app, st), _served(st_app) as st_url, _served(incentives[0]) as inc_url:
        assert (await st.post("/v1/sync", headers=tokens.headers("admin"))).status_code == 200
        down = "http://127.0.0.1:9"
        gw_app = create_app(
            GatewaySettings(
                database_url=test_db.role_urls["gateway"],
                shared=shared_settings_for_tests(),
                signing_key_pem=signing_key.private_pem.decode(),
                catalogue_url=down,
                assessment_url=down,
                credit_bank_url=down,
                incentives_url=inc_url,
                statistics_url=st_url,
                rate_limit_store="memory",
            )
        )
        async with app_client(gw_app, test_db.engine("gateway"), signing_key) as gw:
            admin, univ = tokens.headers("admin"), tokens.headers("university", org="univ-a")
            params = {"group_by": "district,university,level"}
            contract = await gw.get("/api/incentives/v1/statistics/certificates", params=params, headers=admin)
            own = await gw.get("/api/statistics/v1/statistics/certificates", params=params, headers=admin)
            direct = await st.get("/v1/statistics/certificates", params=params, headers=admin)
            assert contract.status_code == 200, contract.text
            assert contract.json() == own.json() == direct.json()
            assert contract.json()["totals"]["issued"] == 6
            # The statistics service's tenancy: a university sees its own rows, a student nothing.
            mine = await gw.get("/api/incentives/v1/statistics/certificates", params=params, headers=univ)
            assert {r["university"] for r in mine.json()["rows"]} == {"univ-a"}
            assert mine.json()["totals"]["issued"] == 4
            student = tokens.headers("student", sub=learner)
            refused = await gw.get("/api/incentives/v1/statistics/certificates", headers=student)
            assert refused.status_code == 403 and "student" in refused.json()["detail"]
            assert (await gw.get("/api/incentives/v1/statistics/certificates")).status_code == 401
            # CSV and XLSX exports of the same view.
            csv_params = {"group_by": "district", "format": "csv"}
            a = await gw.get("/api/incentives/v1/statistics/certificates", params=csv_params, headers=admin)
            b = await gw.get("/api/statistics/v1/statistics/certificates", params=csv_params, headers=admin)
            assert a.headers["content-type"].startswith("text/csv") and a.content == b.content
            assert 'filename="certificates.csv"' in a.headers["content-disposition"]
            assert a.content.decode("utf-8-sig").splitlines()[-1].startswith("total,6,")
            xlsx_params = {"group_by": "district", "format": "xlsx"}
            x = await gw.get("/api/incentives/v1/statistics/certificates", params=xlsx_params, headers=admin)
            sheet = load_workbook(io.BytesIO(x.content)).active
            assert [[c.value for c in row][:2] for row in sheet.iter_rows()] == [
                ["district", "issued"],
                ["浦东新区", 2],
                ["闵行区", 4],
                ["total", 6],
            ]
            # Effect evaluation of the catalogue's real edition.
            q = {"edition_id": catalogue[2], "months": 6}
            effect = await gw.get("/api/incentives/v1/effects", params=q, headers=admin)
            assert effect.status_code == 200, effect.text
            assert effect.json() == (await gw.get("/api/statistics/v1/effects", params=q, headers=admin)).json()
            counts = {r["occupation_code"]: (r["group"], r["after"]) for r in effect.json()["occupations"]}
            assert counts["6-25-02-05"] == ("in_edition", 3) and counts["4-10-01-05"] == ("outside", 1)
            assert (await gw.get("/api/incentives/v1/effects", params=q, headers=univ)).status_code == 403
            # Incentives' own paths still reach incentives.
            claim = {"learner_id": learner, "certificate_number": numbers["a"][1], "graduation_year": 2027}
            r = await gw.post("/api/incentives/v1/subsidy-claims", json=claim, headers=student)
            assert (r.status_code, r.json()["amount"]) == (201, "1800.00"), r.text
            r = await gw.get(f"/api/incentives/v1/subsidy-claims/{r.json()['claim_id']}", headers=student)
            assert r.json()["certificate_number"] == numbers["a"][1]
            # Only the listed paths are sent on: the bare prefix is incentives' (which has no such route).
            bare = await gw.get("/api/incentives/v1/statistics", headers=admin)
            assert bare.status_code == 404
        await gw_app.state.upstreams.close()
