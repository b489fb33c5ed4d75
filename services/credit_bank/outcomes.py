"""Deposits: a learner's outcomes stored in the credit bank (学分银行 "存储", measure 三.4)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.idempotency import claim, complete, request_hash
from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from .clients import AssessmentClient, CertificateFacts
from .ledger import append, open_account
from .models import SCHEMA, Outcome
from .schemas import OutcomeCreate, OutcomeRead
from .sql import emit_event, run


class AccountNotFound(NotFound):
    type_ = "account-not-found"
    title = "Account not found"


class OutcomeNotFound(NotFound):
    type_ = "outcome-not-found"
    title = "Outcome not found"


class CertificateNotFound(InvalidInput):
    type_ = "certificate-not-found"
    title = "Assessment knows no such certificate for this learner"


class CertificateNotValid(Conflict):
    type_ = "certificate-not-valid"
    title = "The certificate is suspended or revoked"


_INSERT_CERTIFICATE = text(
    f"INSERT INTO {SCHEMA}.outcomes (id, learner_id, kind, certificate_number, occupation_code, level, issued_on, "
    "evidence, status, deposited_by) VALUES (:id, :l, 'certificate', :n, :occ, :lv, :on, CAST(:ev AS jsonb), "
    "'valid', :by) ON CONFLICT (certificate_number) DO NOTHING RETURNING id"
)
_BY_NUMBER = text(f"SELECT id FROM {SCHEMA}.outcomes WHERE certificate_number = :n")


def outcome_read(outcome: Outcome) -> OutcomeRead:
    return OutcomeRead.model_validate({**outcome.model_dump(), "outcome_id": outcome.id})


def _require_depositor(principal: Principal, learner_id: str) -> None:
    """A student deposits only into their own account; universities, services and admin for any learner."""
    if principal.is_student and not principal.is_learner(learner_id):
        raise AccountNotFound()


def _check_shape(data: OutcomeCreate) -> None:
    if data.kind == "certificate" and not data.certificate_number:
        raise InvalidInput(
            "A certificate outcome names its number",
            errors=[field_error(["body", "certificate_number"], "required for a certificate")],
        )
    if data.kind != "certificate":
        errors = []
        if not data.title:
            errors.append(field_error(["body", "title"], f"required for a {data.kind}"))
        if not data.evidence:
            errors.append(field_error(["body", "evidence"], f"a {data.kind} stores its evidence"))
        if errors:
            raise InvalidInput("The outcome has invalid fields", errors=errors)


def check_certificate(facts: CertificateFacts | None, learner_id: str, number: str) -> CertificateFacts:
    """Exists, belongs to this learner and is valid (a suspended or revoked one is 409 with the reason)."""
    if facts is None or facts.learner_id != learner_id:
        raise CertificateNotFound(
            f"certificate {number} is not a certificate of this learner",
            errors=[field_error(["body", "certificate_number"], "no such certificate for this learner")],
        )
    if facts.status != "valid":
        raise CertificateNotValid(f"certificate {number} is {facts.status}: {facts.status_reason or 'no reason given'}")
    return facts


async def store_certificate(
    session: AsyncSession, *, principal: Principal, facts: CertificateFacts
) -> tuple[Outcome, bool]:
    """The certificate as an outcome; the same certificate deposited again is the same outcome."""
    await open_account(session, facts.learner_id, principal.org if principal.is_university else None)
    evidence = {"source": "assessment", "checked_status": facts.status}
    new_id = uuid.uuid4()
    inserted = (
        await run(
            session,
            _INSERT_CERTIFICATE,
            {
                "id": new_id,
                "l": facts.learner_id,
                "n": facts.number,
                "occ": facts.occupation_code,
                "lv": facts.level,
                "on": facts.issued_on,
                "ev": _json(evidence),
                "by": principal.sub,
            },
        )
    ).first()
    if inserted is None:
        existing = (await run(session, _BY_NUMBER, {"n": facts.number})).one()
        outcome = await session.get(Outcome, existing[0])
        assert outcome is not None
        return outcome, False
    outcome = await session.get(Outcome, new_id)
    assert outcome is not None
    return outcome, True


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


async def _store_other(session: AsyncSession, *, principal: Principal, data: OutcomeCreate) -> Outcome:
    await open_account(session, data.learner_id, principal.org if principal.is_university else None)
    outcome = Outcome(
        learner_id=data.learner_id,
        kind=data.kind,
        title=data.title,
        evidence=data.evidence,
        deposited_by=principal.sub,
    )
    session.add(outcome)
    await session.flush()
    await session.refresh(outcome)
    return outcome


async def record_deposit(session: AsyncSession, outcome: Outcome) -> None:
    """The ledger's deposit entry (0 credits) and the event, for a newly stored outcome."""
    what = f"certificate {outcome.certificate_number}" if outcome.kind == "certificate" else f"{outcome.kind}"
    await append(
        session,
        learner_id=outcome.learner_id,
        kind="deposit",
        credits=Decimal(0),
        outcome_id=outcome.id,
        reason=f"{what} deposited",
    )
    await emit_event(
        session,
        "credit_bank.outcome.deposited",
        f"outcome:{outcome.id}",
        outcome_read(outcome).model_dump(mode="json"),
    )


async def deposit(
    session: AsyncSession,
    assessment: AssessmentClient,
    *,
    principal: Principal,
    data: OutcomeCreate,
    idempotency_key: str | None,
) -> tuple[int, dict[str, Any]]:
    """Stores an outcome, opening the account on first use; a certificate must be the learner's and valid."""
    _require_depositor(principal, data.learner_id)
    _check_shape(data)
    if idempotency_key:
        stored = await claim(
            session,
            SCHEMA,
            principal=principal.sub,
            key=idempotency_key,
            body_hash=request_hash(data.model_dump(mode="json")),
        )
        if stored is not None:
            return stored
    if data.kind == "certificate":
        number = str(data.certificate_number)
        facts = check_certificate(await assessment.certificate(number), data.learner_id, number)
        outcome, created = await store_certificate(session, principal=principal, facts=facts)
    else:
        outcome, created = await _store_other(session, principal=principal, data=data), True
    if created:
        await record_deposit(session, outcome)
    status, body = (201 if created else 200), outcome_read(outcome).model_dump(mode="json")
    if idempotency_key:
        await complete(session, SCHEMA, principal=principal.sub, key=idempotency_key, status=status, body=body)
    await session.commit()
    return status, body
