"""Points for many learners in one request: ``POST /v1/points/evaluate/batch``.

A university evaluates its graduating class, or the bureau a whole cohort, without one request per
learner. The items are the single route's bodies; the answers are the single route's answers, in
the same order. It is the single route's code path (``points.score_many`` / ``points.store_many``)
with more than one item: the rule set in force is read once per (scheme, date), assessment is asked
once per 5,000 learners for their valid certificates and the catalogue once per 10,000 distinct
(occupation, level, issue date) — never once per learner or per certificate — and all evaluations
and their events are stored with two set-based INSERTs in one transaction.

Who: admin, and a university for its own students only (learners assessment knows as uploaded by
that university; any other learner makes the whole batch a 404 listing the items). A student has
the single route for themself.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal

from .deps import Context
from .points import Waited, score_many, store_many
from .schemas import EvaluateIn, EvaluationRead

MAX_BATCH = 1_000


class EvaluateBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[EvaluateIn] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"up to {MAX_BATCH:,} bodies of POST /points/evaluate"
    )


class EvaluationBatchRead(BaseModel):
    items: list[EvaluationRead] = Field(description="one stored evaluation per item, in request order")


async def evaluate_batch(
    session: AsyncSession, ctx: Context, *, principal: Principal, data: EvaluateBatchIn, waited: Waited
) -> bytes:
    """The answer as JSON bytes (``EvaluationBatchRead``), serialised once: built from values already
    validated, a thousand evaluations are not turned into models and back (py-spy: a sixth of a batch)."""
    students_of = principal.org if principal.is_university else None
    scored = await score_many(session, ctx, data.items, waited=waited, students_of=students_of, batch=True)
    answers = await store_many(session, principal, scored)
    return json.dumps({"items": answers}, ensure_ascii=False, separators=(",", ":")).encode()
