"""Every statistic reproduced on a hand-made data set: certificates written through assessment's
public API and credit conversions through the credit bank's (the real apps, in-process, the credit
bank reaching assessment and statistics reaching both through ASGI transports); the catalogue's and
incentives' feeds built by hand."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.kit.auth import SigningKey
from tests.assessment.asm_support import FakeCatalogue, make_body, make_uscc, record, unique, upload
from tests.support.fixtures import app_client, shared_settings_for_tests

from .support import FakeFeed


@pytest.fixture(scope="module")
async def own_db(pg_server: str, test_db: Any) -> AsyncIterator[dict[str, AsyncEngine]]:
    """A database of its own: other tests commit certificates to the shared one, and these tests
    read assessment's whole feed from the start."""
    from skillpass.bootstrap import bootstrap, role_url
    from skillpass.registry import ALL

    db_admin = await bootstrap(pg_server, "skillpass_stats_" + uuid.uuid4().hex[:8], test_db.passwords)
    spec = {s.name: s for s in ALL}
    names = ("assessment", "credit_bank", "statistics")
    urls = {n: role_url(db_admin, spec[n], test_db.passwords[n]) for n in names}
    engines = {n: create_async_engine(u) for n, u in urls.items()}
    yield engines
    for engine in engines.values():
        await engine.dispose()


@pytest.fixture
async def assessment(own_db: dict[str, AsyncEngine], signing_key: Any) -> Any:
    from services.assessment.app import create_app
    from services.assessment.settings import AssessmentSettings

    app = create_app(
        AssessmentSettings(
            database_url=str(own_db["assessment"].url),
            shared=shared_settings_for_tests(),
            credential_key_pem=SigningKey.generate().private_pem.decode(),
        ),
        catalogue_transport=httpx.MockTransport(FakeCatalogue().handler),
    )
    async with app_client(app, own_db["assessment"], signing_key) as client:
        yield app, client


class _AsService(httpx.AsyncBaseTransport):
    """An in-process app called the way a service calls another: with its service token."""

    def __init__(self, app: Any, token: str) -> None:
        self.inner, self.token = httpx.ASGITransport(app=app), token

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["authorization"] = f"Bearer {self.token}"
        return await self.inner.handle_async_request(request)


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


def _catalogue_feed() -> FakeFeed:
    feed = FakeFeed()
    feed.add("catalogue.edition.created", {"edition_id": "ed-1", "title": "2026 目录", "based_on": None})
    feed.add("catalogue.entry.added", {"edition_id": "ed-1", "occupation_code": "6-25-02-05"})
    feed.add(
        "catalogue.edition.published", {"edition_id": "ed-1", "title": "2026 目录", "effective_from": "2026-08-01"}
    )
    feed.routes["/v1/editions/ed-1/entries"] = [
        {"id": f"en-{n}", "occupation_code": code, "work_type": None, "min_level": 3, "industries": ["x"]}
        for n, code in enumerate(("6-25-02-05", "2-02-38-01", "6-12-05-03"))
    ]
    return feed


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


def _incentives_feed(numbers: dict[str, list[str]]) -> FakeFeed:
    feed = FakeFeed(missing=True)
    ev = {"learner_id": "lrn-1", "scheme": "settlement_points"}
    feed.add(
        "incentives.evaluation.recorded",
        {**ev, "id": "e1", "total": 74, "threshold": 72, "skill_points": 3, "passes": True},
    )
    feed.add(
        "incentives.evaluation.recorded",
        {**ev, "id": "e2", "total": 80, "threshold": 72, "skill_points": 3, "passes": True},
    )
    feed.add(
        "incentives.evaluation.recorded",
        {**ev, "id": "e3", "total": 60, "threshold": 72, "skill_points": 0, "passes": False},
    )
    feed.add("incentives.evaluation.recorded", {**ev, "id": "e4", "total": 75, "passes": True})
    claim = {
        "learner_id": "lrn-1",
        "occupation_code": "6-25-02-05",
        "level": 4,
        "in_catalogue": True,
        "claimed_on": "2026-11-21",
    }
    feed.add(
        "incentives.subsidy_claim.submitted",
        {**claim, "claim_id": "s1", "certificate_number": numbers["a"][1], "status": "pending", "amount": "1800.00"},
    )
    feed.add(
        "incentives.subsidy_claim.submitted",
        {**claim, "claim_id": "s2", "certificate_number": numbers["b"][1], "status": "ineligible", "amount": None},
    )
    feed.add(
        "incentives.subsidy_claim.submitted",
        {**claim, "claim_id": "s3", "certificate_number": numbers["b"][1], "status": "pending", "amount": "2400.00"},
    )
    feed.add(
        "incentives.subsidy_claim.decided",
        {**claim, "claim_id": "s3", "certificate_number": numbers["b"][1], "status": "approved", "amount": "2400.00"},
    )
    feed.add(
        "incentives.subsidy_claim.submitted",
        {**claim, "claim_id": "s4", "certificate_number": numbers["a"][2], "status": "pending", "amount": "1800.00"},
    )
    feed.add(
        "incentives.subsidy_claim.decided",
        {**claim, "claim_id": "s4", "certificate_number": numbers["a"][2], "status": "approved", "amount": "1800.00"},
    )
    feed.add(
        "incentives.subsidy_claim.paid",
        {**claim, "claim_id": "s4", "certificate_number": numbers["a"][2], "status": "paid", "amount": "1800.00"},
    )
    return feed


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
    assessment: Any, credit_bank: Any, stats: Any, tokens: Any
) -> None:
    asm_app, asm = assessment
    numbers = await _hand_made(asm, tokens)
    await _conversions(credit_bank, asm, tokens, numbers)
    incentives = _incentives_feed(numbers)
    sources = {
        "assessment": httpx.ASGITransport(app=asm_app),
        "catalogue": _catalogue_feed().transport(),
        "credit_bank": httpx.ASGITransport(app=credit_bank[0]),
        "incentives": incentives.transport(),
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
        incentives.missing = False
        synced = {s["source"]: s for s in (await client.post("/v1/sync", headers=admin)).json()}
        assert synced["incentives"]["applied"] == 11
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
        await _assert_statistics(client, tokens)
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


async def _assert_statistics(client: Any, tokens: Any) -> None:
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

    cov = await _get(client, tokens, "catalogue_coverage", group_by="edition")
    row = cov["rows"][0]
    assert (
        row["edition"],
        row["entries"],
        row["entries_with_certificates"],
        row["entries_without_certificates"],
        row["certificates"],
    ) == ("ed-1", 3, 2, 1, 5)

    conv = (await _get(client, tokens, "conversions"))["totals"]
    assert (
        conv["conversions"],
        conv["reversed"],
        conv["credits_converted"],
        conv["credits_reversed"],
        conv["credits_net"],
    ) == (2, 1, "6.5", "2.5", "4.0")
    conv_by = _by(await _get(client, tokens, "conversions", group_by="university"), "university")
    # Zero sums come back as the number 0, other sums as decimal strings: compared as decimals here.
    assert {
        k: (v["conversions"], v["reversed"], *(Decimal(str(v[c])) for c in ("credits_converted", "credits_net")))
        for k, v in conv_by.items()
    } == {"univ-a": (1, 0, Decimal("4.0"), Decimal("4.0")), "univ-b": (1, 1, Decimal("2.5"), Decimal(0))}

    pts = (await _get(client, tokens, "points"))["totals"]
    assert (pts["evaluations"], pts["passed"], pts["passed_because_of_skill"], pts["passed_skill_item_unknown"]) == (
        4,
        3,
        1,
        1,
    )

    subs = (await _get(client, tokens, "subsidies"))["totals"]
    assert (subs["claimed"], subs["ineligible"], subs["approved"], subs["paid"]) == (4, 1, 2, 1)
    assert (subs["amount_claimed"], subs["amount_approved"], subs["amount_paid"]) == ("6000.00", "4200.00", "1800.00")
    own_subs = (await _get(client, tokens, "subsidies", role="university"))["totals"]
    assert (own_subs["claimed"], own_subs["amount_paid"]) == (2, "1800.00")

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
