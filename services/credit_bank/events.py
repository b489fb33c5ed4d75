"""The data of credit_bank's conversion events, defined once: credit_bank writes them, others parse them.

Like ``services/assessment/events.py``: the only module of credit_bank another service may import
(import-linter allows exactly ``services.<consumer>.** -> services.credit_bank.events``), so it
imports nothing but pydantic and the standard library. A consumer parses the ``...Facts`` model (a
tolerant reader: unknown fields are ignored, missing optional ones take the defaults consumers have
always read them with); credit_bank builds the full ``...Event`` model.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

CONVERSION_POSTED = "credit_bank.conversion.posted"
CONVERSION_REVERSED = "credit_bank.conversion.reversed"


class ConversionFacts(BaseModel):
    """What a consumer of a conversion event may rely on (an event without credits counts 0)."""

    model_config = ConfigDict(frozen=True)

    conversion_id: str
    learner_id: str = ""
    university_org: str | None = None
    occupation_code: str | None = None
    level: int | None = None
    credits: Decimal = Decimal(0)


class ConversionPosted(BaseModel):
    """``data`` of ``credit_bank.conversion.posted``: the API's answer plus where the credits came from."""

    conversion_id: uuid.UUID
    learner_id: str
    outcome_id: uuid.UUID
    programme_id: uuid.UUID
    rule_id: uuid.UUID
    credits: Decimal
    course_codes: list[str]
    ledger_entry_id: int
    replaced_conversion_ids: list[uuid.UUID]
    university_org: str
    occupation_code: str | None
    level: int | None


class ConversionReversed(BaseModel):
    """``data`` of ``credit_bank.conversion.reversed``."""

    conversion_id: uuid.UUID
    learner_id: str
    outcome_id: uuid.UUID
    programme_id: uuid.UUID
    university_org: str
    credits: Decimal
    ledger_entry_id: int
    reason: str
