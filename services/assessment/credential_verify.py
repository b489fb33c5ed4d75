"""``POST /v1/credentials/verify``: a credential in, a list of checks out (docs/assessment.md).

Each check answers ``pass``, ``warn`` or ``fail`` with a message; ``verified`` is true when none
fails. The issuer and status checks read our own tables, so they run only on a payload whose
signature verified: a forged payload gets no answer about any real certificate or body.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import ALGORITHM, jws_parts, jws_verifies
from services.kit.clock import SHANGHAI

from . import ob3_schema, status_lists
from .credentials import SERVICE_ISSUER, VC_JWT
from .keys import KeyRing
from .models import Body, Filing

MAX_BYTES = 64 * 1024
CheckName = Literal["format", "schema", "signature", "issuer", "status", "validity"]
Result = Literal["pass", "warn", "fail"]
BODY_ID = re.compile(r"^urn:skillpass:body:([0-9a-fA-F-]{36})$")
# Claims the JWT adds to the credential; the object form may leave them out.
JWT_CLAIMS = ("iat",)


class CredentialVerifyIn(BaseModel):
    credential: str | dict[str, Any] = Field(description="a compact VC-JWT, or the JSON payload (with `jwt`)")
    jwt: str | None = Field(
        default=None, max_length=MAX_BYTES, validate_default=True, description="the compact VC-JWT of an object"
    )

    @field_validator("credential")
    @classmethod
    def _size(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        size = len(value) if isinstance(value, str) else len(json.dumps(value))
        if size > MAX_BYTES:
            raise ValueError(f"credential larger than {MAX_BYTES} bytes")
        return value

    @field_validator("jwt")
    @classmethod
    def _forms(cls, value: str | None, info: ValidationInfo) -> str | None:
        given = info.data.get("credential")
        if isinstance(given, dict) and not value:
            raise ValueError("a credential given as JSON needs its compact VC-JWT in `jwt`")
        if isinstance(given, str) and value:
            raise ValueError("give `jwt` only with a credential given as JSON")
        return value

    @property
    def token(self) -> str:
        return (self.credential if isinstance(self.credential, str) else str(self.jwt)).strip()


class Check(BaseModel):
    check: CheckName
    result: Result
    message: str


class CredentialSummary(BaseModel):
    """The payload as read: trust it only when ``verified``."""

    id: str | None = None
    name: str | None = None
    issuer_name: str | None = None
    achievement_name: str | None = None
    certificate_number: str | None = None
    holder_name_masked: str | None = None
    awarded_date: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None


class CredentialVerifyAnswer(BaseModel):
    verified: bool
    checks: list[Check]
    credential: CredentialSummary | None = None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def summary(payload: dict[str, Any]) -> CredentialSummary:
    subject = _obj(payload.get("credentialSubject"))
    issuer = payload.get("issuer")
    return CredentialSummary(
        id=_str(payload.get("id")),
        name=_str(payload.get("name")),
        issuer_name=_str(_obj(issuer).get("name")),
        achievement_name=_str(_obj(subject.get("achievement")).get("name")),
        certificate_number=_str(subject.get("licenseNumber")),
        holder_name_masked=_str(subject.get("holderNameMasked")),
        awarded_date=_str(payload.get("awardedDate")),
        valid_from=_str(payload.get("validFrom")),
        valid_until=_str(payload.get("validUntil")),
    )


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _format(header: dict[str, Any], payload: dict[str, Any], given: dict[str, Any] | None) -> Check:
    problems = []
    if header.get("alg") != ALGORITHM:
        problems.append(f"alg must be {ALGORITHM}")
    if header.get("typ") != VC_JWT:
        problems.append(f"typ must be {VC_JWT}")
    if not isinstance(header.get("kid"), str):
        problems.append("kid missing")
    if given is not None:
        signed = {k: v for k, v in payload.items() if k not in JWT_CLAIMS}
        if {k: v for k, v in given.items() if k not in JWT_CLAIMS} != signed:
            problems.append("the JSON credential differs from the payload its JWT signs")
    if problems:
        return Check(check="format", result="fail", message="; ".join(problems))
    return Check(check="format", result="pass", message=f"a compact VC-JWT ({ALGORITHM}, typ {VC_JWT})")


def _schema(payload: dict[str, Any]) -> Check:
    errors = ob3_schema.check(payload)
    if errors:
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        return Check(check="schema", result="fail", message="; ".join(errors[:3]) + more)
    return Check(check="schema", result="pass", message="valid Open Badges 3.0 AchievementCredential")


def _signature(token: str, header: dict[str, Any], keys: KeyRing) -> Check:
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM:
        return Check(check="signature", result="fail", message=f"only {ALGORITHM} signatures are accepted")
    jwk = keys.public_jwk(kid) if isinstance(kid, str) else None
    if jwk is None:
        return Check(check="signature", result="fail", message=f"unknown key {kid!r}: not one of our published keys")
    if not jws_verifies(token, jwk):
        return Check(check="signature", result="fail", message="the signature does not match the payload (altered)")
    return Check(check="signature", result="pass", message=f"signed by published key {kid}")


async def _issuer(session: AsyncSession, payload: dict[str, Any]) -> Check:
    issuer = payload.get("issuer")
    issuer_id = issuer if isinstance(issuer, str) else _str(_obj(issuer).get("id"))
    match = BODY_ID.match(issuer_id or "")
    body = await session.get(Body, uuid.UUID(match[1])) if match else None
    if body is None:
        return Check(check="issuer", result="fail", message=f"issuer {issuer_id!r} is not an assessment body we know")
    awarded = _instant(payload.get("awardedDate")) or _instant(payload.get("validFrom"))
    if awarded is None:
        return Check(check="issuer", result="fail", message="no award date to check the filing against")
    on = awarded.astimezone(SHANGHAI).date()
    filings = (
        await session.exec(
            select(Filing)
            .where(Filing.body_id == body.id, col(Filing.valid_from) <= on, col(Filing.valid_to) >= on)
            .order_by(col(Filing.valid_from))
        )
    ).all()
    by_status = {f.status: f for f in filings}
    if "active" in by_status:
        filing = by_status["active"]
        return Check(check="issuer", result="pass", message=f"{body.name}: filing {filing.filing_no} in force on {on}")
    if "suspended" in by_status:
        filing = by_status["suspended"]
        return Check(
            check="issuer",
            result="warn",
            message=f"{body.name}: filing {filing.filing_no} covered {on} but is now suspended",
        )
    if "revoked" in by_status:
        filing = by_status["revoked"]
        return Check(
            check="issuer", result="fail", message=f"{body.name}: filing {filing.filing_no} covering {on} was revoked"
        )
    return Check(check="issuer", result="fail", message=f"{body.name}: no filing in force on {on}")


async def _status(session: AsyncSession, payload: dict[str, Any], public_url: str, now: datetime) -> Check:
    entry = payload.get("credentialStatus")
    if not isinstance(entry, dict):
        return Check(check="status", result="fail", message="no single credentialStatus entry")
    url = _str(entry.get("statusListCredential")) or ""
    prefix = status_lists.list_url(public_url, "")
    if entry.get("type") != "BitstringStatusListEntry" or not url.startswith(prefix):
        return Check(check="status", result="fail", message="the status entry is not one of our status lists")
    if entry.get("statusPurpose") != status_lists.PURPOSE or entry.get("statusSize") != status_lists.STATUS_SIZE:
        return Check(check="status", result="fail", message="expected statusPurpose 'message' with statusSize 2")
    index = _str(entry.get("statusListIndex")) or ""
    if not index.isdigit() or int(index) >= status_lists.ENTRIES:
        return Check(check="status", result="fail", message="statusListIndex out of range")
    try:
        doc = await status_lists.status_list_credential(
            session, list_id=url[len(prefix) :], public_url=public_url, issuer=SERVICE_ISSUER, now=now
        )
    except status_lists.StatusListNotFound:
        return Check(check="status", result="fail", message="its status list does not exist")
    value = status_lists.decode_entry(doc["credentialSubject"]["encodedList"], int(index))
    message = status_lists.STATUS_MESSAGES[value]["message"]
    return Check(check="status", result="pass" if value == 0 else "fail", message=message)


def _validity(payload: dict[str, Any], now: datetime) -> Check:
    valid_from, valid_until = _instant(payload.get("validFrom")), _instant(payload.get("validUntil"))
    if valid_from is None:
        return Check(check="validity", result="fail", message="validFrom missing or not an RFC 3339 instant")
    if valid_from > now:
        return Check(check="validity", result="fail", message=f"not valid before {payload['validFrom']}")
    if "validUntil" in payload and valid_until is None:
        return Check(check="validity", result="fail", message="validUntil is not an RFC 3339 instant")
    if valid_until is not None and valid_until < now:
        return Check(check="validity", result="fail", message=f"expired on {payload['validUntil']}")
    until = f"until {payload['validUntil']}" if valid_until else "no expiry"
    return Check(check="validity", result="pass", message=f"valid from {payload['validFrom']}, {until}")


def _not_checked(name: CheckName, why: str) -> Check:
    return Check(check=name, result="fail", message=f"not checked: {why}")


async def verify_credential(
    session: AsyncSession, data: CredentialVerifyIn, *, keys: KeyRing, public_url: str, now: datetime
) -> CredentialVerifyAnswer:
    token = data.token
    try:
        header, payload = jws_parts(token)
    except ValueError:
        why = "not a compact VC-JWT"
        checks = [Check(check="format", result="fail", message="not a compact JWS with a JSON payload")]
        checks += [_not_checked(n, why) for n in ("schema", "signature", "issuer", "status", "validity")]
        return CredentialVerifyAnswer(verified=False, checks=checks, credential=None)
    given = data.credential if isinstance(data.credential, dict) else None
    checks = [_format(header, payload, given), _schema(payload)]
    signature = _signature(token, header, keys)
    checks.append(signature)
    if signature.result == "pass":
        checks.append(await _issuer(session, payload))
        checks.append(await _status(session, payload, public_url, now))
    else:
        checks += [_not_checked(n, "the signature did not verify") for n in ("issuer", "status")]
    checks.append(_validity(payload, now))
    verified = all(c.result != "fail" for c in checks)
    return CredentialVerifyAnswer(verified=verified, checks=checks, credential=summary(payload))
