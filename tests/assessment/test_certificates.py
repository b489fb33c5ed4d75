"""Certificates, records and verification: who may read what, masking, status changes, public checks."""

from __future__ import annotations

from typing import Any

from services.kit.pii import learner_id
from tests.assessment.asm_support import events, make_body, record, upload
from tests.support.fixtures import TEST_SECRET


async def _issued(
    client: Any, tokens: Any, org: str = "univ-a", name: str = "张三丰"
) -> tuple[dict[str, Any], str, str]:
    body = await make_body(client, tokens, org=org)
    rec = record("c1", name=name, school=org)
    row = (await upload(client, tokens, body["id"], [rec], org=org)).json()["rows"][0]
    return rec, row["certificate_number"], learner_id(rec["candidate"]["id_number"], TEST_SECRET)


async def test_reading_a_certificate_by_role(client: Any, tokens: Any) -> None:
    _rec, number, lid = await _issued(client, tokens)
    holder = await client.get(f"/v1/certificates/{number}", headers=tokens.headers("student", sub=lid))
    assert holder.status_code == 200
    got = holder.json()
    assert got["holder_name"] == "张三丰"
    assert got["learner_id"] == lid
    assert got["status"] == "valid"
    assert got["occupation_code"] == "6-25-02-05"
    assert got["level"] == 4
    assert got["in_catalogue_on_issue"] is True
    owner = await client.get(f"/v1/certificates/{number}", headers=tokens.headers("university", org="univ-a"))
    assert owner.json()["holder_name"] == "张三丰"
    platform = await client.get(f"/v1/certificates/{number}", headers=tokens.headers("platform"))
    assert platform.json()["holder_name"] == "张**"
    for outsider in (
        tokens.headers("student", sub="lrn_someone_else"),
        tokens.headers("university", org="univ-b"),
    ):
        r = await client.get(f"/v1/certificates/{number}", headers=outsider)
        assert r.status_code == 404


async def test_listing_a_learners_certificates(client: Any, tokens: Any) -> None:
    _, number, lid = await _issued(client, tokens)
    for headers in (
        tokens.headers("student", sub=lid),
        tokens.headers("service"),
        tokens.headers("admin"),
        tokens.headers("university", org="univ-a"),
    ):
        r = await client.get(f"/v1/certificates?learner_id={lid}", headers=headers)
        assert [c["number"] for c in r.json()["items"]] == [number]
        # each item as the certificate's own page shows it to that reader (the name masked alike)
        one = await client.get(f"/v1/certificates/{number}", headers=headers)
        assert r.json()["items"] == [one.json()]
    for headers in (tokens.headers("student", sub="lrn_x"), tokens.headers("university", org="univ-b")):
        r = await client.get(f"/v1/certificates?learner_id={lid}", headers=headers)
        assert r.json()["items"] == []


async def test_the_graduation_year_of_the_record_is_read_and_published(client: Any, tokens: Any, app: Any) -> None:
    """Incentives judges graduating-year subsidy rules on it: the read model and every certificate
    event carry the candidate's graduation year (and school) as the record had them."""
    _, number, lid = await _issued(client, tokens)
    one = await client.get(f"/v1/certificates/{number}", headers=tokens.headers("service"))
    listed = await client.get(f"/v1/certificates?learner_id={lid}", headers=tokens.headers("service"))
    assert (one.json()["graduation_year"], listed.json()["items"][0]["graduation_year"]) == (2027, 2027)
    await client.post(f"/v1/certificates/{number}/revoke", headers=tokens.headers("admin"), json={"reason": "舞弊"})
    seen = await events(app, prefix="assessment.certificate.", subject=f"certificate:{number}")
    assert [(e["type"], e["data"]["graduation_year"], e["data"]["school_org"]) for e in seen] == [
        ("assessment.certificate.issued", 2027, "univ-a"),
        ("assessment.certificate.revoked", 2027, "univ-a"),
    ]


async def test_suspend_reinstate_revoke_with_events(client: Any, tokens: Any, app: Any) -> None:
    _, number, _ = await _issued(client, tokens)
    univ = tokens.headers("university", org="univ-a")
    r = await client.post(f"/v1/certificates/{number}/suspend", headers=univ, json={"reason": "成绩复核"})
    assert r.json()["status"] == "suspended"
    assert r.json()["status_reason"] == "成绩复核"
    assert (
        await client.post(f"/v1/certificates/{number}/suspend", headers=univ, json={"reason": "again"})
    ).status_code == 409
    r = await client.post(f"/v1/certificates/{number}/reinstate", headers=univ, json={"reason": "复核通过"})
    assert r.json()["status"] == "valid"
    assert (
        await client.post(f"/v1/certificates/{number}/revoke", headers=univ, json={"reason": "舞弊"})
    ).status_code == 403
    other = tokens.headers("university", org="univ-b")
    assert (
        await client.post(f"/v1/certificates/{number}/suspend", headers=other, json={"reason": "nope"})
    ).status_code == 404
    r = await client.post(f"/v1/certificates/{number}/revoke", headers=tokens.headers("admin"), json={"reason": "舞弊"})
    assert r.json()["status"] == "revoked"
    seen = await events(app, prefix="assessment.certificate.", subject=f"certificate:{number}")
    assert [e["type"] for e in seen] == [
        "assessment.certificate.issued",
        "assessment.certificate.suspended",
        "assessment.certificate.reinstated",
        "assessment.certificate.revoked",
    ]
    assert seen[-1]["data"]["reason"] == "舞弊"
    assert seen[-1]["data"]["status"] == "revoked"
    assert seen[-1]["data"]["number"] == number
    assert "in_catalogue_on_issue" in seen[-1]["data"]


async def test_records_mask_id_numbers_except_for_owner_and_admin(client: Any, tokens: Any) -> None:
    rec, _, lid = await _issued(client, tokens)
    raw = rec["candidate"]["id_number"]
    for headers in (tokens.headers("university", org="univ-a"), tokens.headers("admin")):
        items = (await client.get(f"/v1/records?learner_id={lid}", headers=headers)).json()["items"]
        assert [i["candidate"]["id_number"] for i in items] == [raw]
    items = (await client.get(f"/v1/records?learner_id={lid}", headers=tokens.headers("platform"))).json()["items"]
    assert items[0]["candidate"]["id_number"] == raw[:3] + "*" * 11 + raw[-4:]
    assert items[0]["theory_score"] == "80.0"
    assert items[0]["passed"] is True
    r = await client.get(f"/v1/records?learner_id={lid}", headers=tokens.headers("university", org="univ-b"))
    assert r.json()["items"] == []
    r = await client.get(f"/v1/records?learner_id={lid}", headers=tokens.headers("student", sub=lid))
    assert r.status_code == 403


async def test_record_filters(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    await upload(
        client,
        tokens,
        body["id"],
        [record("f1"), record("f2", theory=5), record("f3", code="2-02-38-01", level=2, review=70)],
    )
    admin = tokens.headers("admin")
    q = f"/v1/records?body_id={body['id']}"
    assert len((await client.get(q, headers=admin)).json()["items"]) == 3
    assert [i["external_id"] for i in (await client.get(q + "&passed=false", headers=admin)).json()["items"]] == ["f2"]
    got = (await client.get(q + "&occupation_code=2-02-38-01", headers=admin)).json()["items"]
    assert [i["external_id"] for i in got] == ["f3"]
    page = (await client.get(q + "&limit=2", headers=admin)).json()
    rest = (await client.get(q + f"&limit=2&cursor={page['next_cursor']}", headers=admin)).json()
    assert len(page["items"]) == 2
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert (await client.get(q + "&exam_date_from=2026-11-11", headers=admin)).json()["items"] == []


async def test_verification(client: Any, tokens: Any) -> None:
    _, number, _ = await _issued(client, tokens, name="李小龙")
    ip = {"X-Forwarded-For": "198.51.100.1, 10.0.0.9"}
    r = await client.get("/v1/verify", params={"number": number, "name": "李小龙"}, headers=ip)
    assert r.status_code == 200
    assert r.json() == {
        "found": True,
        "status": "valid",
        "occupation_name": "工业机器人系统运维员",
        "level": 4,
        "issued_on": r.json()["issued_on"],
        "body_name": "univ-a 评价机构",
        "holder_name_masked": "李**",
    }
    wrong = await client.get("/v1/verify", params={"number": number, "name": "李小虎"}, headers=ip)
    assert wrong.json() == {
        "found": False,
        "status": None,
        "occupation_name": None,
        "level": None,
        "issued_on": None,
        "body_name": None,
        "holder_name_masked": None,
    }
    unknown = await client.get("/v1/verify", params={"number": "Y0000319999992640000001", "name": "李小龙"}, headers=ip)
    assert unknown.json()["found"] is False


async def test_verification_is_rate_limited_per_client_ip(client: Any) -> None:
    # The app under test allows a burst of 5; only the last X-Forwarded-For hop (the gateway's) counts.
    statuses = [
        (
            await client.get(
                "/v1/verify",
                params={"number": "Y1", "name": "x"},
                headers={"X-Forwarded-For": f"spoof-{i}, 203.0.113.7"},
            )
        ).status_code
        for i in range(7)
    ]
    assert statuses == [200] * 5 + [429] * 2
    limited = await client.get(
        "/v1/verify", params={"number": "Y1", "name": "x"}, headers={"X-Forwarded-For": "203.0.113.7"}
    )
    assert limited.headers["Retry-After"]
    assert limited.json()["type"].endswith("verify-rate-limited")
    other = await client.get(
        "/v1/verify", params={"number": "Y1", "name": "x"}, headers={"X-Forwarded-For": "203.0.113.8"}
    )
    assert other.status_code == 200


async def test_bulk_certificate_check_for_services(client: Any, tokens: Any) -> None:
    """POST /v1/certificates/check: status and holder per number in the order asked, one call; only services."""
    _, number, lid = await _issued(client, tokens)
    _, other, other_lid = await _issued(client, tokens, name="李四")
    admin = tokens.headers("admin")
    await client.post(f"/v1/certificates/{other}/suspend", headers=admin, json={"reason": "成绩复核"})
    body = {"numbers": ["NO-SUCH-NUMBER", other, number]}
    r = await client.post("/v1/certificates/check", json=body, headers=tokens.headers("service"))
    assert r.status_code == 200, r.text
    got = r.json()["certificates"]
    assert got[0] == {
        "number": "NO-SUCH-NUMBER",
        "found": False,
        "learner_id": None,
        "occupation_code": None,
        "level": None,
        "issued_on": None,
        "status": None,
        "status_reason": None,
    }
    assert (got[1]["number"], got[1]["found"], got[1]["learner_id"]) == (other, True, other_lid)
    assert (got[1]["status"], got[1]["status_reason"]) == ("suspended", "成绩复核")
    assert (got[2]["learner_id"], got[2]["status"], got[2]["occupation_code"], got[2]["level"]) == (
        lid,
        "valid",
        "6-25-02-05",
        4,
    )
    assert "holder_name" not in got[2]
    for caller in (
        tokens.headers("university", org="univ-a"),
        tokens.headers("student", sub=lid),
        tokens.headers("platform"),
    ):
        assert (await client.post("/v1/certificates/check", json=body, headers=caller)).status_code == 403
    too_many = await client.post(
        "/v1/certificates/check", json={"numbers": ["x"] * 1001}, headers=tokens.headers("service")
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["loc"] == ["body", "numbers"]
