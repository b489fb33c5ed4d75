"""GET /v1/learners/{learner_id}/clr: the learner's whole record as one CLR 2.0 ClrCredential.

Required fields are checked against the tables of 1EdTech CLR Standard v2.0, §B (data model):
ClrCredential (``@context`` 1..*, ``type`` 1..*, ``id`` 1, ``name`` 1, ``credentialSubject`` 1,
``issuer`` 1, ``validFrom`` 1), ClrSubject (``type`` 1..*, ``verifiableCredential`` 1..*,
``achievement`` 0..*, ``association`` 0..*), Achievement (``id``, ``type``, ``criteria``,
``description``, ``name``) and Association (``type``, ``associationType``, ``sourceId``,
``targetId``). The credit bank is faked (tests/assessment/asm_support.py: FakeCreditBank).
"""

from __future__ import annotations

import uuid
from typing import Any

from services.kit.pii import learner_id
from tests.assessment.asm_support import make_body, make_id_number, record, unique, upload
from tests.assessment.vc_support import independent_verify, jwks, official_schema, schema_errors
from tests.support.fixtures import TEST_SECRET

VC_V2 = "https://www.w3.org/ns/credentials/v2"
CLR_V2 = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"


async def test_the_holder_gets_every_valid_certificate_in_one_signed_clr(client: Any, tokens: Any) -> None:
    id_number = make_id_number(unique())
    lid = learner_id(id_number, TEST_SECRET)
    recs = [
        record("clr-a", id_number=id_number),
        record("clr-b", id_number=id_number, code="2-02-38-01", level=2, review=85),
        record("clr-c", id_number=id_number, level=3),
    ]
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], recs)
    assert r.status_code == 201, r.text
    numbers = [row["certificate_number"] for row in r.json()["rows"]]
    admin = tokens.headers("admin")
    assert (
        await client.post(f"/v1/certificates/{numbers[2]}/revoke", headers=admin, json={"reason": "撤销证书"})
    ).status_code == 200

    r = await client.get(f"/v1/learners/{lid}/clr", headers=tokens.headers("student", sub=lid))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vc+jwt"
    clr = independent_verify(r.text, await jwks(client))

    # ClrCredential table: required fields and their shape.
    for field in ("@context", "type", "id", "name", "credentialSubject", "issuer", "validFrom"):
        assert field in clr, field
    assert clr["@context"][0] == VC_V2
    assert CLR_V2 in clr["@context"]
    assert "VerifiableCredential" in clr["type"] and "ClrCredential" in clr["type"]
    assert isinstance(clr["id"], str) and ":" in clr["id"]
    assert isinstance(clr["name"], str) and clr["name"]
    assert "Profile" in clr["issuer"]["type"] and clr["issuer"]["id"]
    assert clr["validFrom"].endswith("+00:00")
    assert clr["partial"] is False
    # The credit bank answered (no account yet): nothing to add, and the record says it asked.
    assert clr["creditBankStatus"] == "included"
    assert "achievement" not in clr["credentialSubject"]
    # ClrSubject table.
    subject = clr["credentialSubject"]
    assert "ClrSubject" in subject["type"]
    assert subject["id"] == f"urn:skillpass:learner:{lid}"
    bundled = subject["verifiableCredential"]
    assert len(bundled) >= 1
    # Every valid certificate, and only those: the revoked one is left out.
    assert sorted(vc["credentialSubject"]["licenseNumber"] for vc in bundled) == sorted(numbers[:2])
    schema = official_schema()
    for vc in bundled:
        assert "AchievementCredential" in vc["type"]
        assert schema_errors(schema, vc) == []


async def test_their_university_gets_its_own_certificates_and_others_get_404(client: Any, tokens: Any) -> None:
    id_number = make_id_number(unique())
    lid = learner_id(id_number, TEST_SECRET)
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], [record("clr-u", id_number=id_number)])
    assert r.status_code == 201, r.text
    number = r.json()["rows"][0]["certificate_number"]

    r = await client.get(f"/v1/learners/{lid}/clr", headers=tokens.headers("university", org="univ-a"))
    assert r.status_code == 200, r.text
    clr = independent_verify(r.text, await jwks(client))
    assert clr["partial"] is True
    assert [vc["credentialSubject"]["licenseNumber"] for vc in clr["credentialSubject"]["verifiableCredential"]] == [
        number
    ]

    for headers in (
        tokens.headers("university", org="univ-b"),  # not their university
        tokens.headers("student", sub="lrn_someone_else"),
        tokens.headers("admin"),
        tokens.headers("platform"),
    ):
        r = await client.get(f"/v1/learners/{lid}/clr", headers=headers)
        assert r.status_code == 404, headers
        assert r.json()["type"].endswith("learner-record-not-found")
    assert (await client.get(f"/v1/learners/{lid}/clr")).status_code == 401


def conversion(number: str | None, credits: str, courses: list[str], **extra: Any) -> dict[str, Any]:
    """One conversion line as the credit bank's transcript answers it."""
    return {
        "conversion_id": str(uuid.uuid4()),
        "outcome_id": str(uuid.uuid4()),
        "certificate_number": number,
        "occupation_code": "6-25-02-05",
        "level": 4,
        "credits": credits,
        "course_codes": courses,
        "status": "posted",
        "suspended": False,
        **extra,
    }


def programme(org: str, code: str, name: str, conversions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "programme_id": str(uuid.uuid4()),
        "code": code,
        "name": name,
        "university_org": org,
        "graduation_credits": "160.0",
        "cap": "80.0",
        "converted_credits": "0.0",
        "remaining_cap": "80.0",
        "courses": [],
        "flagged": False,
        "conversions": conversions,
    }


async def test_credit_bank_conversions_join_as_achievements_tied_to_their_certificates(
    client: Any, tokens: Any, credit_bank: Any
) -> None:
    id_number = make_id_number(unique())
    lid = learner_id(id_number, TEST_SECRET)
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], [record("clr-cb", id_number=id_number)])
    assert r.status_code == 201, r.text
    number = r.json()["rows"][0]["certificate_number"]
    own = conversion(number, "4.0", ["ME201", "ME202"])
    credit_bank.programmes[lid] = [
        programme(
            "univ-a",
            "080202",
            "机械设计制造及其自动化",
            [
                own,
                conversion(number, "2.0", ["ME999"], status="reversed"),
                conversion("X-1", "3.0", ["ME300"], suspended=True),
            ],
        ),
        programme("univ-b", "080901", "计算机科学与技术", [conversion(None, "2.5", ["CS101"])]),
    ]

    r = await client.get(f"/v1/learners/{lid}/clr", headers=tokens.headers("student", sub=lid))
    assert r.status_code == 200, r.text
    clr = independent_verify(r.text, await jwks(client))
    assert credit_bank.calls == [f"/v1/accounts/{lid}/transcript"]
    assert clr["creditBankStatus"] == "included" and clr["partial"] is False
    subject = clr["credentialSubject"]
    # Posted conversions only: the reversed one and the suspended certificate's are left out.
    achievements = {a["humanCode"]: a for a in subject["achievement"]}
    assert sorted(achievements) == ["080202", "080901"]
    for a in subject["achievement"]:  # Achievement table: required fields
        for field in ("id", "type", "criteria", "description", "name"):
            assert a[field], field
        assert a["type"] == ["Achievement"] and a["criteria"]["narrative"]
    mech = achievements["080202"]
    assert mech["id"] == f"urn:skillpass:credit-bank:conversion:{own['conversion_id']}"
    assert mech["creditsAvailable"] == 4.0 and mech["tag"] == ["ME201", "ME202"]
    assert mech["creator"] == {"id": "urn:skillpass:university:univ-a", "type": ["Profile"]}
    assert number in mech["description"] and "机械设计制造及其自动化" in mech["name"]
    assert achievements["080901"]["creditsAvailable"] == 2.5
    # Association table: the certificate's achievement relates to the conversion made from it;
    # the conversion without a bundled certificate has none.
    cert_achievement = subject["verifiableCredential"][0]["credentialSubject"]["achievement"]["id"]
    assert subject["association"] == [
        {
            "type": ["Association"],
            "associationType": "isRelatedTo",
            "sourceId": cert_achievement,
            "targetId": mech["id"],
        }
    ]

    # The university sees its own programmes' conversions only.
    r = await client.get(f"/v1/learners/{lid}/clr", headers=tokens.headers("university", org="univ-a"))
    assert r.status_code == 200, r.text
    clr = independent_verify(r.text, await jwks(client))
    assert [a["humanCode"] for a in clr["credentialSubject"]["achievement"]] == ["080202"]
    assert clr["creditBankStatus"] == "included"


async def test_without_the_credit_bank_the_clr_is_issued_with_certificates_only_and_says_so(
    client: Any, tokens: Any, credit_bank: Any
) -> None:
    id_number = make_id_number(unique())
    lid = learner_id(id_number, TEST_SECRET)
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], [record("clr-down", id_number=id_number)])
    assert r.status_code == 201, r.text
    number = r.json()["rows"][0]["certificate_number"]
    credit_bank.programmes[lid] = [programme("univ-a", "080202", "机械", [conversion(number, "4.0", ["ME201"])])]

    for breakage in ("down", "500", "malformed"):
        credit_bank.reset()
        if breakage == "down":
            credit_bank.down = True
        elif breakage == "500":
            credit_bank.status = 500
        else:
            credit_bank.programmes[lid] = [{"university_org": "univ-a", "conversions": [{"status": "posted"}]}]
        r = await client.get(f"/v1/learners/{lid}/clr", headers=tokens.headers("student", sub=lid))
        assert r.status_code == 200, (breakage, r.text)
        clr = independent_verify(r.text, await jwks(client))
        assert clr["creditBankStatus"] == "unavailable", breakage
        assert clr["partial"] is True
        assert "学分银行暂不可用" in clr["description"]
        subject = clr["credentialSubject"]
        assert "achievement" not in subject and "association" not in subject
        assert [vc["credentialSubject"]["licenseNumber"] for vc in subject["verifiableCredential"]] == [number]
