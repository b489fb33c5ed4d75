"""Verifiable Credentials: the holder's signed credential, the status lists, the public keys."""

from __future__ import annotations

import json
from typing import Any

from services.assessment.status_lists import ENTRIES, decode_entry, encode_bits, encode_entries
from services.kit.pii import learner_id
from tests.assessment.asm_support import record
from tests.assessment.vc_support import b64u_decode, credential, issue, spec_status, status_list
from tests.support.fixtures import TEST_SECRET

STATUS_MESSAGES = ["valid", "suspended", "revoked"]


async def test_the_holder_gets_a_signed_achievement_credential(client: Any, tokens: Any) -> None:
    rec = record("vc1", name="张三丰")
    body, [number] = await issue(client, tokens, [rec])
    lid = learner_id(rec["candidate"]["id_number"], TEST_SECRET)
    vc = await credential(client, tokens, rec, number)
    assert vc["type"] == ["VerifiableCredential", "AchievementCredential"]
    assert vc["@context"][:2] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert vc["@context"][2] == "http://127.0.0.1:8000/api/assessment/v1/contexts/skillpass-v1"
    assert vc["id"] == f"urn:skillpass:certificate:{number}"
    assert vc["issuer"] == {"id": f"urn:skillpass:body:{body['id']}", "type": ["Profile"], "name": body["name"]}
    cert = (await client.get(f"/v1/certificates/{number}", headers=tokens.headers("admin"))).json()
    assert vc["validFrom"] == vc["awardedDate"] == f"{cert['issued_on']}T00:00:00+08:00"
    subject = vc["credentialSubject"]
    assert subject["id"] == f"urn:skillpass:learner:{lid}"
    assert subject["type"] == ["AchievementSubject"]
    assert subject["licenseNumber"] == number
    assert subject["inCatalogueOnIssue"] is True
    assert subject["holderNameMasked"] == "张**"
    achievement = subject["achievement"]
    assert achievement["name"] == "工业机器人系统运维员 四级/中级工"
    assert achievement["achievementType"] == "Certificate"
    assert achievement["humanCode"] == "6-25-02-05"
    assert "国家职业技能标准《工业机器人系统运维员》" in achievement["criteria"]["narrative"]
    entry = vc["credentialStatus"]
    assert isinstance(entry, dict)  # one entry: the OB 3.0 schema takes no list
    assert entry["type"] == "BitstringStatusListEntry"
    assert entry["statusPurpose"] == "message"
    assert entry["statusSize"] == 2
    assert [m["status"] for m in entry["statusMessage"]] == ["0x0", "0x1", "0x2", "0x3"]
    assert [m["message"] for m in entry["statusMessage"][:3]] == STATUS_MESSAGES
    assert isinstance(entry["statusListIndex"], str)
    assert entry["statusListCredential"].startswith("http://127.0.0.1:8000/api/assessment/v1/status-lists/message-")
    assert entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}"
    # Neither the ID number nor the full name, anywhere in the token.
    text = json.dumps(vc, ensure_ascii=False)
    assert rec["candidate"]["id_number"] not in text
    assert rec["candidate"]["id_number"][-6:] not in text
    assert "张三丰" not in text


async def test_awarded_date_is_stable_across_reissues(client: Any, tokens: Any) -> None:
    rec = record("vc-again")
    _, [number] = await issue(client, tokens, [rec])
    first = await credential(client, tokens, rec, number)
    univ = tokens.headers("university", org="univ-a")
    await client.post(f"/v1/certificates/{number}/suspend", headers=univ, json={"reason": "复核"})
    await client.post(f"/v1/certificates/{number}/reinstate", headers=univ, json={"reason": "复核通过"})
    again = await credential(client, tokens, rec, number)
    assert again["awardedDate"] == first["awardedDate"]
    assert {k: v for k, v in again.items() if k != "iat"} == {k: v for k, v in first.items() if k != "iat"}


async def test_only_the_holder_gets_the_credential(client: Any, tokens: Any) -> None:
    _, [number] = await issue(client, tokens, [record("vc2")])
    for headers in (
        tokens.headers("student", sub="lrn_someone_else"),
        tokens.headers("university", org="univ-a"),
        tokens.headers("admin"),
    ):
        r = await client.get(f"/v1/certificates/{number}/credential", headers=headers)
        assert r.status_code == 404
        assert r.json()["type"].endswith("certificate-not-found")
    assert (await client.get(f"/v1/certificates/{number}/credential")).status_code == 401
    unknown = await client.get(
        "/v1/certificates/Y0000319999992640000001/credential", headers=tokens.headers("student", sub="x")
    )
    assert unknown.status_code == 404


async def test_status_follows_revoke_suspend_and_reinstate_as_the_spec_reads_it(client: Any, tokens: Any) -> None:
    recs = [record(f"sl{i}") for i in range(3)]
    _, numbers = await issue(client, tokens, recs)
    entries = [
        (await credential(client, tokens, rec, n))["credentialStatus"] for rec, n in zip(recs, numbers, strict=True)
    ]
    assert len({e["id"] for e in entries}) == 3
    admin, univ = tokens.headers("admin"), tokens.headers("university", org="univ-a")

    async def statuses() -> list[str]:
        out = []
        for entry in entries:
            doc = await status_list(client, entry["statusListCredential"])
            assert doc["id"] == entry["statusListCredential"]
            assert doc["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
            assert doc["credentialSubject"]["type"] == "BitstringStatusList"
            out.append(entry["statusMessage"][spec_status(doc, entry)]["message"])
        return out

    assert await statuses() == ["valid", "valid", "valid"]
    await client.post(f"/v1/certificates/{numbers[0]}/revoke", headers=admin, json={"reason": "舞弊"})
    await client.post(f"/v1/certificates/{numbers[1]}/suspend", headers=univ, json={"reason": "成绩复核"})
    assert await statuses() == ["revoked", "suspended", "valid"]
    await client.post(f"/v1/certificates/{numbers[1]}/reinstate", headers=univ, json={"reason": "复核通过"})
    assert await statuses() == ["revoked", "valid", "valid"]
    await client.post(f"/v1/certificates/{numbers[2]}/suspend", headers=univ, json={"reason": "复核"})
    await client.post(f"/v1/certificates/{numbers[2]}/revoke", headers=admin, json={"reason": "撤销"})
    assert await statuses() == ["revoked", "valid", "revoked"]


async def test_status_indexes_are_random_not_in_issue_order(client: Any, tokens: Any) -> None:
    recs = [record(f"rnd{i}") for i in range(12)]
    _, numbers = await issue(client, tokens, recs)
    idx = [
        int((await credential(client, tokens, r, n))["credentialStatus"]["statusListIndex"])
        for r, n in zip(recs, numbers, strict=True)
    ]
    assert len(set(idx)) == 12
    assert all(0 <= i < ENTRIES for i in idx)
    # Twelve sequential draws would be consecutive; a random permutation almost never is
    # (probability of a sorted run of 12 in the permutation ≈ 12!⁻¹).
    assert idx != sorted(idx)
    assert max(idx) - min(idx) > 12


async def test_status_list_json_etag_and_unknown_lists(client: Any, tokens: Any) -> None:
    rec = record("sl-json")
    _, [number] = await issue(client, tokens, [rec])
    entry = (await credential(client, tokens, rec, number))["credentialStatus"]
    path = entry["statusListCredential"].split("/api/assessment", 1)[1]
    r = await client.get(path, params={"format": "json"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=5, must-revalidate"
    assert r.json()["credentialSubject"]["statusPurpose"] == "message"
    assert spec_status(r.json(), entry) == 0
    signed = await client.get(path)
    tag = signed.headers["etag"]
    assert tag != r.headers["etag"]  # one representation each
    again = await client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    await client.post(f"/v1/certificates/{number}/suspend", headers=tokens.headers("admin"), json={"reason": "复核"})
    changed = await client.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    for list_id in ("revocation-0", "suspension-0", "message-999999", "message-x"):
        missing = await client.get(f"/v1/status-lists/{list_id}")
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("status-list-not-found")


async def test_json_ld_context_defines_our_extra_terms(client: Any) -> None:
    r = await client.get("/v1/contexts/skillpass-v1")  # public
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/ld+json")
    terms = r.json()["@context"]
    assert terms["@protected"] is True
    assert {"holderNameMasked", "inCatalogueOnIssue"} <= set(terms)


def test_two_bit_entries_are_most_significant_bit_first() -> None:
    encoded = encode_entries({0: 0x2, 1: 0x1, ENTRIES - 1: 0x3})
    bits = __import__("gzip").decompress(b64u_decode(encoded[1:]))
    assert len(bits) == ENTRIES * 2 // 8  # 32 KB: 131,072 entries of 2 bits
    assert bits[0] == 0b1001_0000
    assert bits[-1] == 0b0000_0011
    assert [decode_entry(encoded, i) for i in (0, 1, 2, ENTRIES - 1)] == [2, 1, 0, 3]
    assert encode_bits([3]) == encode_bits([3])  # stable: gzip without a timestamp
