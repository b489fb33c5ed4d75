"""Verifiable Credentials: the holder's signed credential, the status lists, the public keys."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from jose import jwt

from services.assessment.status_lists import LIST_SIZE, encode_bits
from services.kit.pii import learner_id
from tests.assessment.asm_support import make_body, record, upload
from tests.support.fixtures import TEST_SECRET

VC_JWT = "application/vc+jwt"


async def _issue(client: Any, tokens: Any, records: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], records)
    assert r.status_code == 201, r.text
    return body, [row["certificate_number"] for row in r.json()["rows"]]


async def _verified(client: Any, token: str) -> dict[str, Any]:
    """The payload, after checking the signature with the published key (no token needed)."""
    keys = await client.get("/v1/credential-keys")
    assert keys.status_code == 200
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "vc+jwt"
    assert header["alg"] == "ES256"
    [key] = [k for k in keys.json()["keys"] if k["kid"] == header["kid"]]
    payload: dict[str, Any] = jwt.decode(token, key, algorithms=["ES256"])
    return payload


def _bits(encoded_list: str) -> bytes:
    assert encoded_list.startswith("u")
    raw = encoded_list[1:]
    return gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def _bit(bitstring: bytes, index: int) -> int:
    return (bitstring[index // 8] >> (7 - index % 8)) & 1


def _set_bits(bitstring: bytes) -> list[int]:
    return [i for i in range(len(bitstring) * 8) if _bit(bitstring, i)]


async def _status_list(client: Any, url: str) -> tuple[dict[str, Any], bytes]:
    path = url.split("/api/assessment", 1)[1]
    r = await client.get(path)  # no Authorization header: the lists are public
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == VC_JWT
    doc = await _verified(client, r.text)
    return doc, _bits(doc["credentialSubject"]["encodedList"])


async def test_the_holder_gets_a_signed_open_badge_credential(client: Any, tokens: Any) -> None:
    rec = record("vc1", name="张三丰")
    body, [number] = await _issue(client, tokens, [rec])
    lid = learner_id(rec["candidate"]["id_number"], TEST_SECRET)
    r = await client.get(f"/v1/certificates/{number}/credential", headers=tokens.headers("student", sub=lid))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == VC_JWT
    vc = await _verified(client, r.text)
    assert vc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert vc["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert vc["id"] == f"urn:skillpass:certificate:{number}"
    assert vc["issuer"] == {"id": f"urn:skillpass:body:{body['id']}", "type": ["Profile"], "name": body["name"]}
    cert = (await client.get(f"/v1/certificates/{number}", headers=tokens.headers("admin"))).json()
    assert vc["validFrom"] == f"{cert['issued_on']}T00:00:00+08:00"
    subject = vc["credentialSubject"]
    assert subject["id"] == f"urn:skillpass:learner:{lid}"
    assert subject["type"] == ["AchievementSubject"]
    assert subject["certificateNumber"] == number
    assert subject["inCatalogueOnIssue"] is True
    assert subject["holderNameMasked"] == "张**"
    achievement = subject["achievement"]
    assert achievement["name"] == "工业机器人系统运维员 四级/中级工"
    assert achievement["achievementType"] == "Certificate"
    assert achievement["humanCode"] == "6-25-02-05"
    assert "国家职业技能标准《工业机器人系统运维员》" in achievement["criteria"]["narrative"]
    assert [s["statusPurpose"] for s in vc["credentialStatus"]] == ["revocation", "suspension"]
    for entry in vc["credentialStatus"]:
        assert entry["type"] == "BitstringStatusListEntry"
        assert isinstance(entry["statusListIndex"], str)
        assert entry["statusListCredential"].startswith(
            f"http://127.0.0.1:8000/api/assessment/v1/status-lists/{entry['statusPurpose']}-"
        )
        assert entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}"
    # Neither the ID number nor the full name, anywhere in the token.
    text = json.dumps(vc, ensure_ascii=False)
    assert rec["candidate"]["id_number"] not in text
    assert rec["candidate"]["id_number"][-6:] not in text
    assert "张三丰" not in text


async def test_only_the_holder_gets_the_credential(client: Any, tokens: Any) -> None:
    _, [number] = await _issue(client, tokens, [record("vc2")])
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


async def _credential(client: Any, tokens: Any, rec: dict[str, Any], number: str) -> dict[str, Any]:
    lid = learner_id(rec["candidate"]["id_number"], TEST_SECRET)
    r = await client.get(f"/v1/certificates/{number}/credential", headers=tokens.headers("student", sub=lid))
    return await _verified(client, r.text)


async def test_status_lists_follow_revoke_suspend_and_reinstate(client: Any, tokens: Any) -> None:
    recs = [record(f"sl{i}") for i in range(3)]
    _, numbers = await _issue(client, tokens, recs)
    vcs = [await _credential(client, tokens, rec, n) for rec, n in zip(recs, numbers, strict=True)]
    revocation = [vc["credentialStatus"][0] for vc in vcs]
    suspension = [vc["credentialStatus"][1] for vc in vcs]
    idx = [int(e["statusListIndex"]) for e in revocation]
    assert len(set(idx)) == 3
    assert [int(e["statusListIndex"]) for e in suspension] == idx
    admin, univ = tokens.headers("admin"), tokens.headers("university", org="univ-a")

    doc, bits = await _status_list(client, revocation[0]["statusListCredential"])
    assert doc["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert doc["id"] == revocation[0]["statusListCredential"]
    assert doc["credentialSubject"]["type"] == "BitstringStatusList"
    assert doc["credentialSubject"]["statusPurpose"] == "revocation"
    assert len(bits) * 8 >= 131_072
    assert [_bit(bits, i) for i in idx] == [0, 0, 0]

    await client.post(f"/v1/certificates/{numbers[0]}/revoke", headers=admin, json={"reason": "舞弊"})
    await client.post(f"/v1/certificates/{numbers[1]}/suspend", headers=univ, json={"reason": "成绩复核"})
    _, bits = await _status_list(client, revocation[0]["statusListCredential"])
    assert _set_bits(bits) == [idx[0]]
    doc, bits = await _status_list(client, suspension[0]["statusListCredential"])
    assert doc["credentialSubject"]["statusPurpose"] == "suspension"
    assert _set_bits(bits) == [idx[1]]

    await client.post(f"/v1/certificates/{numbers[1]}/reinstate", headers=univ, json={"reason": "复核通过"})
    _, bits = await _status_list(client, suspension[0]["statusListCredential"])
    assert _set_bits(bits) == []
    _, bits = await _status_list(client, revocation[0]["statusListCredential"])
    assert _set_bits(bits) == [idx[0]]


async def test_status_list_as_json_and_unknown_lists(client: Any, tokens: Any) -> None:
    rec = record("sl-json")
    _, [number] = await _issue(client, tokens, [rec])
    entry = (await _credential(client, tokens, rec, number))["credentialStatus"][0]
    path = entry["statusListCredential"].split("/api/assessment", 1)[1]
    r = await client.get(path, params={"format": "json"})
    assert r.status_code == 200
    assert r.json()["credentialSubject"]["statusPurpose"] == "revocation"
    assert _set_bits(_bits(r.json()["credentialSubject"]["encodedList"])) == []
    for list_id in ("expiry-0", "revocation-999999", "revocation-x"):
        missing = await client.get(f"/v1/status-lists/{list_id}")
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("status-list-not-found")


def test_bitstring_is_most_significant_bit_first() -> None:
    bits = _bits(encode_bits([0, 9, LIST_SIZE - 1]))
    assert len(bits) == LIST_SIZE // 8
    assert bits[0] == 0x80
    assert bits[1] == 0x40
    assert bits[-1] == 0x01
    assert encode_bits([3]) == encode_bits([3])  # stable: gzip without a timestamp
