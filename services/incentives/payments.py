"""Payment of approved skill-subsidy claims (policy 一.4: the subsidy is money paid to the learner).

The admin records a payment once the treasury has paid: the amount and the day the money left,
with the voucher as a reference. Only an ``approved`` claim is paid, once (the payment's key is
the claim), for exactly the approved amount: a different amount is a typing error to refuse,
not a partial payment. A claim flagged for recovery (its certificate was revoked after approval)
is not paid. The claim keeps its status ``approved``; the payment is its own record, and
``incentives.subsidy_claim.paid`` tells the feed's readers (the bureau's statistics).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.feed import emit
from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from .events import CLAIM_PAID, ClaimPaid
from .models import SCHEMA, SubsidyClaim, SubsidyPayment
from .points import SHANGHAI, today
from .subsidies import ClaimNotFound
from .subsidies import _read as claim_read


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2, description="yuan; must equal the claim's amount")
    paid_on: date = Field(description="the day the money was paid (Asia/Shanghai); not in the future")
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        default=None, description="the treasury's payment voucher number"
    )


class PaymentRead(BaseModel):
    claim_id: uuid.UUID
    learner_id: str
    certificate_number: str
    amount: Decimal
    paid_on: date
    reference: str | None
    paid_by: str
    recorded_at: datetime


class PaymentNotFound(NotFound):
    type_ = "subsidy-payment-not-found"
    title = "The claim has no payment"


class ClaimNotPayable(Conflict):
    type_ = "subsidy-claim-not-payable"
    title = "Only an approved claim not flagged for recovery can be paid"


class ClaimAlreadyPaid(Conflict):
    type_ = "subsidy-claim-paid"
    title = "The claim was already paid"


def _read(payment: SubsidyPayment, claim: SubsidyClaim) -> PaymentRead:
    assert payment.created_at is not None
    return PaymentRead(
        claim_id=payment.claim_id,
        learner_id=claim.learner_id,
        certificate_number=claim.certificate_number,
        amount=payment.amount,
        paid_on=payment.paid_on,
        reference=payment.reference,
        paid_by=payment.paid_by,
        recorded_at=payment.created_at,
    )


def _check(claim: SubsidyClaim, data: PaymentIn) -> None:
    errors = []
    if claim.amount is None or data.amount != claim.amount:
        errors.append(field_error(["body", "amount"], f"the approved amount is {claim.amount}"))
    if data.paid_on > today():
        errors.append(field_error(["body", "paid_on"], "must not be in the future"))
    decided = claim.decided_at.astimezone(SHANGHAI).date() if claim.decided_at else None
    if decided is not None and data.paid_on < decided:
        errors.append(field_error(["body", "paid_on"], f"must not be before the approval on {decided.isoformat()}"))
    if errors:
        raise InvalidInput("The payment does not match the approved claim", errors=errors)


async def pay(session: AsyncSession, *, principal: Principal, claim_id: uuid.UUID, data: PaymentIn) -> PaymentRead:
    """Records the payment of an approved claim, once, and announces it on the feed."""
    claim = await session.get(SubsidyClaim, claim_id, with_for_update=True)  # one payer at a time
    if claim is None:
        raise ClaimNotFound()
    if await session.get(SubsidyPayment, claim_id) is not None:
        raise ClaimAlreadyPaid(f"claim {claim_id} was already paid")
    if claim.status != "approved" or claim.recovery_due:
        state = "approved but flagged for recovery" if claim.recovery_due else claim.status
        raise ClaimNotPayable(f"the claim is {state}")
    _check(claim, data)
    payment = SubsidyPayment(
        claim_id=claim.id,
        amount=data.amount,
        paid_on=data.paid_on,
        reference=data.reference,
        paid_by=principal.sub,
        created_at=datetime.now(UTC),
    )
    session.add(payment)
    await session.flush()
    event = ClaimPaid(**claim_read(claim).model_dump(), amount_paid=payment.amount, paid_on=payment.paid_on)
    await emit(session, SCHEMA, CLAIM_PAID, f"subsidy_claim:{claim.id}", event.model_dump(mode="json"))
    await session.commit()
    return _read(payment, claim)


async def get_payment(session: AsyncSession, *, principal: Principal, claim_id: uuid.UUID) -> PaymentRead:
    """A claim's payment, to whoever may read the claim (another's claim is 404, as the claim is)."""
    claim = await session.get(SubsidyClaim, claim_id)
    if claim is None or not principal.may_read_learner(claim.learner_id, claim.org):
        raise ClaimNotFound()
    payment = await session.get(SubsidyPayment, claim_id)
    if payment is None:
        raise PaymentNotFound(f"claim {claim_id} is {claim.status} and not paid")
    return _read(payment, claim)
