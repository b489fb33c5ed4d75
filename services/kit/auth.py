"""All JWT code lives here: ES256 signing keys, JWKS, minting, signing and verifying, the Principal.

Algorithms are pinned to ES256; ``exp iat iss aud sub`` are required; the header ``alg`` is
checked before any key is touched, so ``none`` and HS256 (key-confusion) tokens never verify.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import json
import logging
import time
import typing
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import jws, jwt
from jose.exceptions import JOSEError
from starlette.applications import Starlette

from .problems import Forbidden, NotFound, Unauthorized

log = logging.getLogger("skillpass.auth")

ALGORITHM = "ES256"
Role = Literal["admin", "university", "student", "platform", "service"]
ROLES: tuple[Role, ...] = typing.get_args(Role)


def parse_role(value: object) -> Role | None:
    """The role a claim or option names, or None for anything else."""
    return next((r for r in ROLES if r == value), None)


def role_needs_org(role: Role) -> bool:
    """A university acts only within its own org, so its tokens and clients must name one."""
    return role == "university"


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: bytes
    public_jwk: dict[str, str]

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the signing key must be an EC P-256 private key")
        numbers = key.public_key().public_numbers()
        x, y = _b64u(numbers.x.to_bytes(32, "big")), _b64u(numbers.y.to_bytes(32, "big"))
        # RFC 7638 thumbprint as kid: stable for a key, different for the next one.
        canonical = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"))
        kid = _b64u(hashlib.sha256(canonical.encode()).digest())
        jwk = {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": ALGORITHM}
        return cls(kid=kid, private_pem=pem, public_jwk=jwk)

    @classmethod
    def generate(cls) -> SigningKey:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cls.from_pem(pem)

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Loads the key at ``path``, generating it (mode 0600) on first run."""
        if path.exists():
            return cls.from_pem(path.read_bytes())
        key = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(key.private_pem)
        tmp.chmod(0o600)
        tmp.replace(path)
        return key


def jwks_document(keys: Iterable[SigningKey | dict[str, str]]) -> dict[str, Any]:
    return {"keys": [k.public_jwk if isinstance(k, SigningKey) else k for k in keys]}


def mint_token(
    key: SigningKey,
    *,
    sub: str,
    role: str,
    issuer: str,
    audience: str,
    org: str | None = None,
    scopes: Iterable[str] = (),
    ttl_s: int = 3600,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "role": role,
        "scope": " ".join(scopes),
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    if org is not None:
        claims["org"] = org
    claims.update(extra or {})
    return str(jwt.encode(claims, key.private_pem.decode(), algorithm=ALGORITHM, headers={"kid": key.kid}))


def sign_jwt(key: SigningKey, claims: dict[str, Any], *, typ: str) -> str:
    """Any claims set as a compact ES256 JWS with ``kid`` and ``typ`` (e.g. ``vc+jwt``) headers."""
    return str(jwt.encode(claims, key.private_pem.decode(), algorithm=ALGORITHM, headers={"kid": key.kid, "typ": typ}))


def jws_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The unverified header and JSON payload of a compact JWS; ``ValueError`` when malformed."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.get_unverified_claims(token)
    except JOSEError as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("header and payload must be JSON objects")
    return dict(header), dict(claims)


def jws_verifies(token: str, jwk: dict[str, str]) -> bool:
    """Whether the ES256 signature of compact JWS ``token`` verifies with public ``jwk`` (no claim checks)."""
    try:
        jws.verify(token, jwk, algorithms=[ALGORITHM])
    except JOSEError:
        return False
    return True


# Roles that read across every tenant: the bureau, the municipal data platform, and our own services.
CROSS_TENANT_READERS: frozenset[Role] = frozenset({"admin", "platform", "service"})


@dataclass(frozen=True)
class Principal:
    """Who calls, and the one place that decides what they may see and change (tenancy).

    Rules: admin reads and writes everything; platform and service read everything, write nothing
    by tenancy; a university reads and writes its own ``org``; a student reads what is theirs
    (``sub`` is their learner id). Another tenant's object is answered 404, never 403.
    """

    sub: str
    role: Role
    org: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None
    # The registered OAuth client a gateway token was issued to (claim ``cid``), for revocation.
    client_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_university(self) -> bool:
        return self.role == "university"

    @property
    def is_student(self) -> bool:
        return self.role == "student"

    @property
    def reads_all_tenants(self) -> bool:
        return self.role in CROSS_TENANT_READERS

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    def require(self, *roles: Role) -> Principal:
        if self.role not in roles:
            raise Forbidden(f"role {self.role!r} may not do this")
        return self

    def owns_org(self, org: str | None) -> bool:
        """True for admin, or for a university acting on its own org (may write)."""
        return self.is_admin or (self.is_university and org is not None and org == self.org)

    def may_read_org(self, org: str | None) -> bool:
        """Cross-tenant readers, or the owning university."""
        return self.reads_all_tenants or self.owns_org(org)

    def is_learner(self, learner_id: str | None) -> bool:
        """A student acting on their own records."""
        return self.is_student and learner_id is not None and learner_id == self.sub

    def may_read_learner(self, learner_id: str | None, org: str | None = None) -> bool:
        """The learner themself, a cross-tenant reader, or the university that holds the record."""
        return self.is_learner(learner_id) or self.may_read_org(org)

    def org_scope(self, requested: str | None) -> str | None:
        """The org a list is limited to: a university sees only its own, others what they asked for."""
        return self.org if self.is_university else requested

    def require_org(self, org: str | None) -> None:
        """Write access: another tenant's object answers 404, never 403 (existence is not disclosed)."""
        if not self.owns_org(org):
            raise NotFound()

    require_owner = require_org

    def require_readable(self, org: str | None, learner_id: str | None = None) -> None:
        """Read access, 404 otherwise."""
        if not self.may_read_learner(learner_id, org):
            raise NotFound()


class KeySource:
    """Public keys by kid, fetched from a JWKS URL, cached, refreshed on an unknown kid."""

    def __init__(
        self,
        jwks_url: str | None = None,
        *,
        static: Iterable[dict[str, str]] = (),
        min_refresh_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.jwks_url = jwks_url
        self._keys: dict[str, dict[str, str]] = {k["kid"]: k for k in static}
        self._fetched_at = 0.0
        self._min_refresh_s = min_refresh_s
        self._client = client
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> dict[str, str] | None:
        if kid in self._keys:
            return self._keys[kid]
        if self.jwks_url is None:
            return None
        async with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= self._min_refresh_s:
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        assert self.jwks_url is not None
        self._fetched_at = time.monotonic()
        try:
            client = self._client or httpx.AsyncClient(timeout=3.0)
            try:
                resp = await client.get(self.jwks_url)
                resp.raise_for_status()
                doc = resp.json()
            finally:
                if self._client is None:
                    await client.aclose()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch from %s failed: %s", self.jwks_url, type(exc).__name__)
            return
        for k in doc.get("keys", []):
            if k.get("kty") == "EC" and k.get("kid"):
                self._keys[k["kid"]] = k


# The longest token lifetime accepted (default; the gateway issues 1 h, an IdP's are shorter than this).
MAX_TOKEN_LIFETIME_S = 24 * 3600


class Verifier:
    """Verifies tokens from one or more trusted issuers, each with its own key source."""

    def __init__(
        self,
        *,
        audience: str,
        issuers: dict[str, KeySource],
        leeway_s: int = 30,
        cache_size: int = 10_000,
        max_lifetime_s: int = MAX_TOKEN_LIFETIME_S,
    ) -> None:
        self.audience = audience
        self.issuers = issuers
        self.leeway_s = leeway_s
        self.max_lifetime_s = max_lifetime_s
        # A verified token is immutable: remember it until it expires (saves an ECDSA verify per call).
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        hit = self._cache.get(token)
        if hit is not None:
            if time.time() < hit[1]:
                return hit[0]
            del self._cache[token]
        principal, exp = await self._verify(token)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[token] = (principal, exp)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.get_unverified_claims(token)
        except JOSEError as exc:
            raise Unauthorized("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("token algorithm not accepted")
        source = self.issuers.get(str(unverified.get("iss")))
        kid = header.get("kid")
        if source is None or not isinstance(kid, str):
            raise Unauthorized("unknown token issuer or key")
        key = await source.get(kid)
        if key is None:
            raise Unauthorized("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=unverified.get("iss"),
                options={
                    "require_exp": True,
                    "require_iat": True,
                    "require_iss": True,
                    "require_aud": True,
                    "require_sub": True,
                    "leeway": self.leeway_s,
                },
            )
        except JOSEError as exc:
            raise Unauthorized("invalid token") from exc
        self._check_times(claims)
        role = parse_role(claims.get("role"))
        if role is None:
            raise Unauthorized("token has no valid role")
        if role_needs_org(role) and not claims.get("org"):
            raise Unauthorized("a university token must carry org")
        scope = claims.get("scope") or ""
        principal = Principal(
            sub=str(claims["sub"]),
            role=role,
            org=claims.get("org"),
            scopes=frozenset(str(scope).split()),
            token_id=claims.get("jti"),
            client_id=claims.get("cid"),
        )
        return principal, float(claims["exp"])

    def _check_times(self, claims: dict[str, Any]) -> None:
        """``iat`` not in the future and ``exp - iat`` within the longest lifetime we issue: a
        token "valid until 2100" is refused even with a good signature."""
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            raise Unauthorized("invalid token times")
        if iat > time.time() + self.leeway_s:
            raise Unauthorized("token issued in the future")
        if exp - iat > self.max_lifetime_s:
            raise Unauthorized("token lifetime too long")


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required")
    return token.strip()


def verifier_of(app: Starlette) -> Verifier:
    """The app's token verifier (tests swap in one that trusts their key)."""
    verifier: Verifier = app.state.verifier
    return verifier


# Who calls, for code that has no request at hand (the audit log's flush hook).
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)

# Declares "bearer token" on every operation that needs one, in the OpenAPI documents (the
# token itself is read and checked below, with our own problems).
_BEARER = HTTPBearer(auto_error=False, bearerFormat="JWT")


async def get_principal(
    request: Request, _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None
) -> Principal:
    principal = await verifier_of(request.app).verify(bearer_token(request))
    request.state.principal = principal
    current_principal.set(principal)  # for the audit log; reset per request by the kit's middleware
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: Role) -> Any:
    """A dependency that admits only the given roles (403 for others)."""

    async def _dep(principal: PrincipalDep) -> Principal:
        return principal.require(*roles)

    return Depends(_dep)


def verifier_from_settings(
    issuer: str, audience: str, jwks_url: str, idp_issuer: str | None = None, idp_jwks_url: str | None = None
) -> Verifier:
    issuers = {issuer: KeySource(jwks_url)}
    if idp_issuer and idp_jwks_url:
        issuers[idp_issuer] = KeySource(idp_jwks_url)
    return Verifier(audience=audience, issuers=issuers)


async def verify_claims(
    token: str, *, issuer: str, audience: str, source: KeySource, leeway_s: int = 30
) -> dict[str, Any]:
    """The claims of a token from another issuer (the city's identity provider), checked as strictly
    as our own: ES256 only, ``exp iat iss aud sub`` required, key by ``kid`` from ``source``."""
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as exc:
        raise Unauthorized("malformed token") from exc
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or not isinstance(kid, str):
        raise Unauthorized("token algorithm or key not accepted")
    key = await source.get(kid)
    if key is None:
        raise Unauthorized("unknown signing key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_iss": True,
                "require_aud": True,
                "require_sub": True,
                "leeway": leeway_s,
            },
        )
    except JOSEError as exc:
        raise Unauthorized("invalid token") from exc
    return claims
