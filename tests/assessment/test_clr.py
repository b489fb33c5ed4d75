"""GET /v1/learners/{learner_id}/clr: the learner's whole record as one CLR 2.0 ClrCredential.

Required fields are checked against the tables of 1EdTech CLR Standard v2.0, §B (data model):
ClrCredential (``@context`` 1..*, ``type`` 1..*, ``id`` 1, ``name`` 1, ``credentialSubject`` 1,
``issuer`` 1, ``validFrom`` 1) and ClrSubject (``type`` 1..*, ``verifiableCredential`` 1..*).
"""

from __future__ import annotations

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
