"""The data of incentives' events other services read, defined once: incentives writes them, others parse them.

Like ``services/assessment/events.py``: the only module of incentives another service may import
(import-linter allows exactly ``services.<consumer>.** -> services.incentives.events``), so it
imports nothing but pydantic and the standard library. A consumer parses the ``...Facts`` model (a
tolerant reader: unknown fields are ignored, missing optional ones take the defaults consumers have
always read them with); incentives builds the full ``...Event`` model.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

EVALUATION_RECORDED = "incentives.evaluation.recorded"
CLAIM_SUBMITTED = "incentives.subsidy_claim.submitted"
CLAIM_DECIDED = "incentives.subsidy_claim.decided"
CLAIM_PAID = "incentives.subsidy_claim.paid"
ClaimStatus = Literal["ineligible", "pending", "held", "approved", "rejected", "cancelled"]


class EvaluationFacts(BaseModel):
    """What a consumer of ``incentives.evaluation.recorded`` may rely on.

    ``threshold`` and ``skill_points`` (the points the rule set's certificate item gave) let a
    reader tell "passed because of the skill certificate" (``total - skill_points < threshold``);
    events recorded before they were added carry neither (None: unknown).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    learner_id: str = ""
    scheme: str = "unknown"
    total: int | None = None
    threshold: int | None = None
    skill_points: int | None = None
    passes: bool | None = None


class EvaluationRecorded(EvaluationFacts):
    """``data`` of ``incentives.evaluation.recorded``."""

    learner_id: str
    scheme: str
    ruleset_id: uuid.UUID
    as_of: date
    total: int
    threshold: int
    skill_points: int
    passes: bool
    rerun_of: uuid.UUID | None


class ClaimFacts(BaseModel):
    """What a consumer of ``incentives.subsidy_claim.submitted|decided|paid`` may rely on."""

    model_config = ConfigDict(frozen=True)

    claim_id: str
    learner_id: str = ""
    certificate_number: str | None = None
    occupation_code: str | None = None
    level: int | None = None
    in_catalogue: bool | None = None
    status: str | None = None
    amount: Decimal | None = None
    claimed_on: date | None = None
    # ``paid`` events only: what was paid and on which day (the day the money left, not the event's).
    amount_paid: Decimal | None = None
    paid_on: date | None = None


class ClaimReason(BaseModel):
    code: str
    message: str


class ClaimEvent(BaseModel):
    """``data`` of ``incentives.subsidy_claim.submitted|decided`` (also the API's ``ClaimRead``).

    Not a subclass of :class:`ClaimFacts`: the claim id is a UUID here, while a reader takes any
    string id; a test pins that :class:`ClaimFacts` parses every :class:`ClaimEvent`.
    """

    claim_id: uuid.UUID
    learner_id: str
    certificate_number: str
    occupation_code: str
    level: int
    issued_on: date
    claimed_on: date
    status: ClaimStatus
    amount: Decimal | None
    in_catalogue: bool
    edition_id: str | None
    reasons: list[ClaimReason]
    recovery_due: bool
    ruleset_id: uuid.UUID
    decided_at: datetime | None = None
    decision_reason: str | None = None


class ClaimPaid(ClaimEvent):
    """``data`` of ``incentives.subsidy_claim.paid``: the claim (still ``approved``) and its payment."""

    amount_paid: Decimal
    paid_on: date
