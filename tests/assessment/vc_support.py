"""Credential test helpers written **only** from the specifications, not from our code.

- ``independent_verify``: RFC 7515 compact JWS + RFC 7518 ES256 checked with ``cryptography``
  (neither python-jose nor ``services.kit.auth``).
- ``spec_status``: the W3C Bitstring Status List v1.0 validation algorithm (multibase base64url,
  GZIP, index × statusSize, left-most bit first, minimum 131,072 entries).
- ``official_schema``: 1EdTech's AchievementCredential JSON Schema from ``<repo>/../shared/data/ob3``.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from services.kit.pii import learner_id
from tests.assessment.asm_support import make_body, upload
from tests.support.fixtures import TEST_SECRET

REPO = Path(__file__).resolve().parents[2]
OB3_SCHEMA = REPO.parent / "shared" / "data" / "ob3" / "ob_v3p0_achievementcredential_schema.json"
VC_JWT = "application/vc+jwt"


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def independent_verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The payload of ``token`` if its ES256 signature verifies with the JWKS key its ``kid`` names."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64u_decode(header_b64))
    assert header["alg"] == "ES256"
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64u_decode(jwk["x"]), "big"), int.from_bytes(b64u_decode(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    raw = b64u_decode(signature_b64)
    assert len(raw) == 64  # RFC 7518 §3.4: R || S, 32 octets each
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise AssertionError("signature does not verify") from exc
    payload: dict[str, Any] = json.loads(b64u_decode(payload_b64))
    return payload


def spec_status(status_list_credential: dict[str, Any], entry: dict[str, Any]) -> int:
    """Bitstring Status List v1.0 §3.2 (validate): the status value of ``entry``."""
    subject = status_list_credential["credentialSubject"]
    assert subject["statusPurpose"] == entry["statusPurpose"]
    size = int(entry.get("statusSize", 1))
    encoded = subject["encodedList"]
    assert encoded[0] == "u", "multibase base64url"
    bitstring = gzip.decompress(b64u_decode(encoded[1:]))
    assert len(bitstring) * 8 >= 131_072 * size, "STATUS_LIST_LENGTH_ERROR"
    index = int(entry["statusListIndex"]) * size
    assert index + size <= len(bitstring) * 8, "RANGE_ERROR"
    bits = "".join(f"{byte:08b}" for byte in bitstring[index // 8 : (index + size - 1) // 8 + 1])
    offset = index % 8
    return int(bits[offset : offset + size], 2)


def official_schema() -> dict[str, Any]:
    """The official schema; outside CI a clone without ``../shared`` skips, in CI it must be there."""
    if not OB3_SCHEMA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the official OB 3.0 schema is missing at {OB3_SCHEMA}")
        pytest.skip(f"no official OB 3.0 schema at {OB3_SCHEMA}")
    schema: dict[str, Any] = json.loads(OB3_SCHEMA.read_text())
    return schema


def schema_errors(schema: dict[str, Any], doc: Any) -> list[str]:
    from jsonschema import Draft201909Validator

    validator = Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


async def issue(client: Any, tokens: Any, records: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    body = await make_body(client, tokens)
    r = await upload(client, tokens, body["id"], records)
    assert r.status_code == 201, r.text
    return body, [row["certificate_number"] for row in r.json()["rows"]]


async def credential_jwt(client: Any, tokens: Any, rec: dict[str, Any], number: str) -> str:
    lid = learner_id(rec["candidate"]["id_number"], TEST_SECRET)
    r = await client.get(f"/v1/certificates/{number}/credential", headers=tokens.headers("student", sub=lid))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == VC_JWT
    return str(r.text)


async def jwks(client: Any) -> dict[str, Any]:
    r = await client.get("/v1/credential-keys")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


async def credential(client: Any, tokens: Any, rec: dict[str, Any], number: str) -> dict[str, Any]:
    return independent_verify(await credential_jwt(client, tokens, rec, number), await jwks(client))


async def status_list(client: Any, url: str) -> dict[str, Any]:
    """Fetched without a token, as a verifier would, and checked with the published keys."""
    path = url.split("/api/assessment", 1)[1]
    r = await client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == VC_JWT
    return independent_verify(r.text, await jwks(client))
