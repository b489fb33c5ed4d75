"""Deposits: a learner's outcomes stored in the credit bank (学分银行 "存储", measure 三.4)."""

from __future__ import annotations

import json
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


_OUTCOME_COLUMNS = (
    "id AS outcome_id, learner_id, kind, status, status_reason, certificate_number, occupation_code, level, "
    "issued_on, title, evidence, deposited_at"
)
# One round trip for the whole deposit: the account opened, the university linked, the outcome and its
# ledger entry written — the last two only when the certificate is new (``led`` reads ``ins``).
_DEPOSIT_CERTIFICATE = text(
    f"""WITH acct AS (INSERT INTO {SCHEMA}.accounts (learner_id) VALUES (:l) ON CONFLICT DO NOTHING),
link AS (INSERT INTO {SCHEMA}.account_universities (learner_id, university_org)
         SELECT :l, CAST(:org AS varchar) WHERE CAST(:org AS varchar) IS NOT NULL ON CONFLICT DO NOTHING),
ins AS (INSERT INTO {SCHEMA}.outcomes (id, learner_id, kind, certificate_number, occupation_code, level, issued_on,
        evidence, status, deposited_by) VALUES (:id, :l, 'certificate', :n, :occ, :lv, :on, CAST(:ev AS jsonb),
        'valid', :by) ON CONFLICT (certificate_number) DO NOTHING RETURNING *),
led AS (INSERT INTO {SCHEMA}.ledger_entries (learner_id, kind, credits, outcome_id, reason)
        SELECT learner_id, 'deposit', 0, id, :why FROM ins)
SELECT {_OUTCOME_COLUMNS} FROM ins"""
)
_BY_NUMBER = text(f"SELECT {_OUTCOME_COLUMNS} FROM {SCHEMA}.outcomes WHERE certificate_number = :n")


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
) -> tuple[OutcomeRead, bool]:
    """The certificate as an outcome (opening the account, with its deposit entry and event); the same
    certificate deposited again is the same outcome."""
    evidence = {"source": "assessment", "checked_status": facts.status}
    row = (
        await run(
            session,
            _DEPOSIT_CERTIFICATE,
            {
                "id": uuid.uuid4(),
                "l": facts.learner_id,
                "org": principal.org if principal.is_university else None,
                "n": facts.number,
                "occ": facts.occupation_code,
                "lv": facts.level,
                "on": facts.issued_on,
                "ev": json.dumps(evidence),
                "by": principal.sub,
                "why": f"certificate {facts.number} deposited",
            },
        )
    ).first()
    if row is None:
        existing = (await run(session, _BY_NUMBER, {"n": facts.number})).one()
        return OutcomeRead.model_validate(dict(existing._mapping)), False
    read = OutcomeRead.model_validate(dict(row._mapping))
    await emit_event(
        session, "credit_bank.outcome.deposited", f"outcome:{read.outcome_id}", read.model_dump(mode="json")
    )
    return read, True


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
    """The ledger's deposit entry (0 credits) and the event, for a newly stored course or award."""
    await append(
        session,
        learner_id=outcome.learner_id,
        kind="deposit",
        credits=Decimal(0),
        outcome_id=outcome.id,
        reason=f"{outcome.kind} deposited",
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
            principal=principal,
            key=idempotency_key,
            body_hash=request_hash(data.model_dump(mode="json")),
        )
        if stored is not None:
            return stored
    if data.kind == "certificate":
        number = str(data.certificate_number)
        facts = check_certificate(await assessment.certificate(number), data.learner_id, number)
        read, created = await store_certificate(session, principal=principal, facts=facts)
    else:
        outcome = await _store_other(session, principal=principal, data=data)
        await record_deposit(session, outcome)
        read, created = outcome_read(outcome), True
    status, body = (201 if created else 200), read.model_dump(mode="json")
    if idempotency_key:
        await complete(session, SCHEMA, principal=principal, key=idempotency_key, status=status, body=body)
    await session.commit()
    return status, body
