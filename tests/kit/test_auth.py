"""Tokens: only ES256 tokens from a trusted issuer, with every required claim, get through."""

import base64
import json
import time

import httpx
import pytest
from jose import jwt

from services.kit.auth import KeySource, SigningKey, Verifier, mint_token
from services.kit.problems import Unauthorized
from tests.support.fixtures import TEST_AUDIENCE, TEST_ISSUER, verifier_for_tests


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def bad_tokens(key: SigningKey) -> dict[str, str]:
    good = mint_token(key, sub="u1", role="admin", issuer=TEST_ISSUER, audience=TEST_AUDIENCE)
    header, _payload, sig = good.split(".")
    claims = jwt.get_unverified_claims(good)
    tampered_payload = _b64({**claims, "role": "admin", "sub": "someone-else"})
    public_pem = key.public_jwk  # the key-confusion attack signs HS256 with the public key material
    return {
        "tampered": f"{header}.{tampered_payload}.{sig}",
        "expired": mint_token(
            key, sub="u1", role="admin", issuer=TEST_ISSUER, audience=TEST_AUDIENCE, now=time.time() - 7200, ttl_s=600
        ),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{_b64(claims)}.",
        "hs256": jwt.encode(claims, json.dumps(public_pem), algorithm="HS256", headers={"kid": key.kid}),
        "wrong_audience": mint_token(key, sub="u1", role="admin", issuer=TEST_ISSUER, audience="other"),
        "wrong_issuer": mint_token(key, sub="u1", role="admin", issuer="https://evil", audience=TEST_AUDIENCE),
        "other_key": mint_token(
            SigningKey.generate(), sub="u1", role="admin", issuer=TEST_ISSUER, audience=TEST_AUDIENCE
        ),
        "garbage": "not.a.jwt",
    }


async def test_good_token_gives_principal(signing_key):
    token = mint_token(
        signing_key,
        sub="u-1",
        role="university",
        org="univ-a",
        scopes=["batches:write"],
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
    )
    p = await verifier_for_tests(signing_key).verify(token)
    assert (p.sub, p.role, p.org, p.scopes) == ("u-1", "university", "univ-a", frozenset({"batches:write"}))


@pytest.mark.parametrize(
    "kind", ["tampered", "expired", "alg_none", "hs256", "wrong_audience", "wrong_issuer", "other_key", "garbage"]
)
async def test_bad_tokens_are_refused(signing_key, kind):
    with pytest.raises(Unauthorized):
        await verifier_for_tests(signing_key).verify(bad_tokens(signing_key)[kind])


async def test_missing_sub_is_refused(signing_key):
    claims = {
        "iss": TEST_ISSUER,
        "aud": TEST_AUDIENCE,
        "role": "admin",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    token = jwt.encode(claims, signing_key.private_pem.decode(), algorithm="ES256", headers={"kid": signing_key.kid})
    with pytest.raises(Unauthorized):
        await verifier_for_tests(signing_key).verify(token)


async def test_university_token_without_org_is_refused(signing_key):
    token = mint_token(signing_key, sub="u", role="university", issuer=TEST_ISSUER, audience=TEST_AUDIENCE)
    with pytest.raises(Unauthorized, match="org"):
        await verifier_for_tests(signing_key).verify(token)


async def test_unknown_kid_refreshes_jwks_once():
    """A rotated key is picked up from the JWKS without a restart; fetches are rate-limited."""
    old, new = SigningKey.generate(), SigningKey.generate()
    published = [old.public_jwk]
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"keys": published})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    source = KeySource("http://gw/.well-known/jwks.json", client=client, min_refresh_s=0)
    verifier = Verifier(audience=TEST_AUDIENCE, issuers={TEST_ISSUER: source})
    assert (
        await verifier.verify(mint_token(old, sub="a", role="admin", issuer=TEST_ISSUER, audience=TEST_AUDIENCE))
    ).sub == "a"
    assert len(calls) == 1
    published.append(new.public_jwk)
    assert (
        await verifier.verify(mint_token(new, sub="b", role="admin", issuer=TEST_ISSUER, audience=TEST_AUDIENCE))
    ).sub == "b"
    assert len(calls) == 2
    await client.aclose()


def test_signing_key_persists(tmp_path):
    path = tmp_path / "keys" / "k.pem"
    first = SigningKey.load_or_create(path)
    assert SigningKey.load_or_create(path).kid == first.kid
    assert oct(path.stat().st_mode & 0o777) == "0o600"
