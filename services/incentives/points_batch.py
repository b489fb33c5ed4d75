"""Points for many learners in one request: ``POST /v1/points/evaluate/batch``.

A university evaluates its graduating class, or the bureau a whole cohort, without one request per
learner. The items are the single route's bodies; the answers are the single route's answers, in
the same order. It is the single route's code path (``points.gather`` / ``Gathered.score`` / ``points.store_many``)
with more than one item: the rule set in force is read once per (scheme, date), assessment is asked
once per 5,000 learners for their valid certificates and the catalogue once per 10,000 distinct
(occupation, level, issue date) — never once per learner or per certificate — and all evaluations,
their events and audit entries are stored with set-based INSERTs in one transaction, ``CHUNK``
evaluations a statement: each chunk is scored, its rows, events, audit entries and statement
parameters built and written, and turned into the answer's JSON before the next, so the process
never holds every copy of all 1,000 at once (issue 15: incentives' peak memory under B6).

Who: admin, and a university for its own students only (learners assessment knows as uploaded by
that university; any other learner makes the whole batch a 404 listing the items). A student has
the single route for themself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.background import BackgroundTask

from services.kit.auth import Principal

from .deps import Context
from .points import Waited, gather, store_many
from .schemas import EvaluateIn, EvaluationRead

MAX_BATCH = 1_000
# Evaluations stored and answered at a time (one INSERT each for them, their events and their audit
# entries): the whole batch in one go held the rows, the events, the audit JSON, SQLAlchemy's and
# asyncpg's parameter copies and the answers of all 1,000 at once, ~13 MB above the request.
CHUNK = 200


def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None (another C library, or none found)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def give_back_memory() -> None:
    """Returns the free memory at the top and in the holes of the C heap to the system.

    A batch's request, evidence, scores and answer are a few MB of objects above the 128 KiB at
    which glibc maps a block of its own, and glibc then raises that threshold, so later ones come
    from the heap, whose freed pages stay resident: the process kept ~30 MB more after B6 than
    before it. ``malloc_trim(0)`` after each batch's answer is sent releases them (a few ms a batch)."""
    if _TRIM is not None:
        _TRIM(0)


GIVE_BACK = BackgroundTask(give_back_memory)


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
    gathered = await gather(session, ctx, data.items, waited=waited, students_of=students_of, batch=True)
    pieces: list[bytes] = []
    for start in range(0, len(data.items), CHUNK):
        chunk = gathered.score(start, start + CHUNK)  # scored, stored and answered a chunk at a time
        answers = await store_many(session, principal, chunk, commit=False)
        del chunk
        # The answers of a chunk as JSON array elements ("[...]" without its brackets)
        pieces.append(json.dumps(answers, ensure_ascii=False, separators=(",", ":"))[1:-1].encode())
        del answers
    await session.commit()  # one transaction for the whole batch, as before: all stored or none
    return b'{"items":[' + b",".join(pieces) + b"]}"
