"""POST /v1/credentials/verify: the checks, and a test for each way a credential goes bad."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from services.kit.auth import SigningKey, sign_jwt
from tests.assessment.asm_support import record
from tests.assessment.vc_support import b64u, b64u_decode, credential_jwt, issue

CHECKS = ["format", "schema", "signature", "issuer", "status", "validity"]


def _ip() -> dict[str, str]:
    """A fresh client address per call: the limiter is shared with /verify and has a burst of 5."""
    n = uuid.uuid4().int
    return {"X-Forwarded-For": f"198.51.{n % 250}.{n // 250 % 250}"}


async def _verify(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/v1/credentials/verify", json=body, headers=_ip())  # no token: public
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    assert [c["check"] for c in answer["checks"]] == CHECKS
    return answer


def _results(answer: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["result"] for c in answer["checks"]}


def _message(answer: dict[str, Any], check: str) -> str:
    return str(next(c["message"] for c in answer["checks"] if c["check"] == check))


async def _one(client: Any, tokens: Any, ext: str) -> tuple[dict[str, Any], str, str]:
    rec = record(ext)
    body, [number] = await issue(client, tokens, [rec])
    return body, number, await credential_jwt(client, tokens, rec, number)


async def test_a_genuine_credential_passes_every_check(client: Any, tokens: Any) -> None:
    body, number, token = await _one(client, tokens, "cv-ok")
    answer = await _verify(client, {"credential": f"  {token}\n"})
    assert answer["verified"] is True
    assert _results(answer) == dict.fromkeys(CHECKS, "pass")
    assert body["filing"]["filing_no"] in _message(answer, "issuer")
    assert _message(answer, "status") == "valid"
    summary = answer["credential"]
    assert summary["certificate_number"] == number
    assert summary["holder_name_masked"] == "张*"
    assert summary["issuer_name"] == body["name"]
    assert summary["achievement_name"] == "工业机器人系统运维员 四级/中级工"
    assert summary["awarded_date"] == summary["valid_from"]
    # The JSON form with its JWT verifies the same.
    payload = json.loads(b64u_decode(token.split(".")[1]))
    payload.pop("iat")
    assert (await _verify(client, {"credential": payload, "jwt": token}))["verified"] is True


async def test_a_tampered_payload_fails_the_signature(client: Any, tokens: Any) -> None:
    _, _, token = await _one(client, tokens, "cv-tamper")
    header, payload_b64, signature = token.split(".")
    payload = json.loads(b64u_decode(payload_b64))
    payload["credentialSubject"]["achievement"]["name"] = "工业机器人系统运维员 一级/高级技师"
    forged = f"{header}.{b64u(json.dumps(payload).encode())}.{signature}"
    answer = await _verify(client, {"credential": forged})
    assert answer["verified"] is False
    results = _results(answer)
    assert results["format"] == results["schema"] == "pass"
    assert results["signature"] == "fail"
    assert "altered" in _message(answer, "signature")
    # Nothing about our tables is answered for an unverified payload.
    assert _message(answer, "issuer").startswith("not checked:")
    assert _message(answer, "status").startswith("not checked:")
    # The JSON form with an edited payload but the genuine JWT: the format check catches it.
    edited = json.loads(b64u_decode(payload_b64))
    edited["credentialSubject"]["licenseNumber"] = "Y000031000000000000000"
    mixed = await _verify(client, {"credential": edited, "jwt": token})
    assert mixed["verified"] is False
    assert _results(mixed)["format"] == "fail"
    assert "differs" in _message(mixed, "format")


async def test_a_foreign_key_fails_the_signature(client: Any, tokens: Any) -> None:
    _, _, token = await _one(client, tokens, "cv-foreign")
    payload = json.loads(b64u_decode(token.split(".")[1]))
    foreign = sign_jwt(SigningKey.generate(), payload, typ="vc+jwt")
    answer = await _verify(client, {"credential": foreign})
    assert answer["verified"] is False
    assert _results(answer)["signature"] == "fail"
    assert "unknown key" in _message(answer, "signature")


async def test_revoked_and_suspended_certificates_fail_the_status_check(client: Any, tokens: Any) -> None:
    recs = [record("cv-rev"), record("cv-sus")]
    _, numbers = await issue(client, tokens, recs)
    tokens_ = [await credential_jwt(client, tokens, r, n) for r, n in zip(recs, numbers, strict=True)]
    admin, univ = tokens.headers("admin"), tokens.headers("university", org="univ-a")
    r = await client.post(f"/v1/certificates/{numbers[0]}/revoke", headers=admin, json={"reason": "考试舞弊"})
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/certificates/{numbers[1]}/suspend", headers=univ, json={"reason": "成绩复核"})
    assert r.status_code == 200, r.text
    revoked, suspended = [await _verify(client, {"credential": t}) for t in tokens_]
    for answer, message in ((revoked, "revoked"), (suspended, "suspended")):
        assert answer["verified"] is False
        assert _results(answer) == {**dict.fromkeys(CHECKS, "pass"), "status": "fail"}
        assert _message(answer, "status") == message
    await client.post(f"/v1/certificates/{numbers[1]}/reinstate", headers=univ, json={"reason": "复核通过"})
    assert (await _verify(client, {"credential": tokens_[1]}))["verified"] is True


async def test_the_issuer_check_follows_the_filing(client: Any, tokens: Any) -> None:
    body, _, token = await _one(client, tokens, "cv-filing")
    admin = tokens.headers("admin")
    filing = f"/v1/bodies/{body['id']}/filings/{body['filing']['id']}"
    r = await client.post(f"{filing}/suspend", headers=admin, json={"reason": "限期整改"})
    assert r.status_code == 200, r.text
    answer = await _verify(client, {"credential": token})
    assert _results(answer)["issuer"] == "warn"
    assert answer["verified"] is True  # a warning still verifies
    r = await client.post(f"{filing}/revoke", headers=admin, json={"reason": "吊销备案"})
    assert r.status_code == 200, r.text
    answer = await _verify(client, {"credential": token})
    assert _results(answer)["issuer"] == "fail"
    assert answer["verified"] is False


async def test_validity_dates(client: Any, tokens: Any, app: Any) -> None:
    _, _, token = await _one(client, tokens, "cv-dates")
    payload = json.loads(b64u_decode(token.split(".")[1]))
    key = app.state.assessment.credential_keys.signing_key(datetime.now(UTC))
    expired = sign_jwt(key, {**payload, "validUntil": "2020-01-01T00:00:00Z"}, typ="vc+jwt")
    answer = await _verify(client, {"credential": expired})
    assert _results(answer)["signature"] == "pass"
    assert _results(answer)["validity"] == "fail"
    assert "expired" in _message(answer, "validity")
    future = sign_jwt(key, {**payload, "validFrom": "2999-01-01T00:00:00Z"}, typ="vc+jwt")
    assert "not valid before" in _message(await _verify(client, {"credential": future}), "validity")


async def test_garbage_is_an_answer_and_bad_bodies_are_422(client: Any) -> None:
    answer = await _verify(client, {"credential": "not-a-jwt"})
    assert answer["verified"] is False
    assert answer["credential"] is None
    assert _results(answer)["format"] == "fail"
    assert all(c["message"].startswith("not checked:") for c in answer["checks"][1:])
    for body, field in (
        ({}, "credential"),
        ({"credential": {"id": "x"}}, "jwt"),
        ({"credential": "a.b.c", "jwt": "a.b.c"}, "jwt"),
        ({"credential": 42}, "credential"),
        ({"credential": "x" * 70_000}, "credential"),
    ):
        r = await client.post("/v1/credentials/verify", json=body, headers=_ip())
        assert r.status_code == 422, body
        assert r.headers["content-type"].startswith("application/problem+json")
        assert {tuple(e["loc"])[:2] for e in r.json()["errors"]} == {("body", field)}, r.json()


async def test_verification_shares_the_verify_rate_limit(client: Any) -> None:
    ip = {"X-Forwarded-For": "203.0.113.99"}
    statuses = [
        (await client.post("/v1/credentials/verify", json={"credential": "x"}, headers=ip)).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    r = await client.get("/v1/verify", params={"number": "Y1", "name": "x"}, headers=ip)
    assert r.status_code == 429
    assert r.json()["type"].endswith("verify-rate-limited")
