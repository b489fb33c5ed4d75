"""Use cases on filings: the registration that lets a body assess occupations and levels for a period."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.clock import today_in_shanghai
from services.kit.feed import emit
from services.kit.problems import Conflict, InvalidInput, NotFound

from .bodies import load_owned_body
from .clients import CatalogueClient, LookupKey
from .models import SCHEMA, Filing
from .schemas import FilingCreate, FilingRead

# Which status each action moves from, and to.
TRANSITIONS = {"suspend": ({"active"}, "suspended"), "revoke": ({"active", "suspended"}, "revoked")}


class FilingNotFound(NotFound):
    type_ = "filing-not-found"
    title = "Filing not found"


class DuplicateFiling(Conflict):
    type_ = "duplicate-filing"
    title = "A filing with this number exists"


class FilingStateConflict(Conflict):
    type_ = "filing-state"
    title = "The filing cannot make this change from its current status"


class UnknownOccupation(InvalidInput):
    type_ = "unknown-occupation"
    title = "An occupation in the scope is not in the classification"


def _event_data(filing: Filing) -> dict[str, object]:
    return FilingRead.model_validate(filing, from_attributes=True).model_dump(mode="json")


async def create_filing(
    session: AsyncSession,
    catalogue: CatalogueClient,
    *,
    principal: Principal,
    body_id: uuid.UUID,
    data: FilingCreate,
) -> FilingRead:
    """Files a scope for a body; every occupation must exist in the classification (catalogue)."""
    body = await load_owned_body(session, principal=principal, body_id=body_id)
    today = today_in_shanghai()
    keys: list[LookupKey] = [(item.occupation_code, level, today, None) for item in data.scope for level in item.levels]
    answers = await catalogue.lookup(keys)
    errors = [
        {
            "loc": ["body", "scope", i, "occupation_code"],
            "msg": f"{item.occupation_code} is not an occupation",
        }
        for i, item in enumerate(data.scope)
        if not all(answers[(item.occupation_code, lv, today, None)].exists for lv in item.levels)
    ]
    if errors:
        raise UnknownOccupation("The scope names occupations the catalogue does not know", errors=errors)
    if (await session.exec(select(Filing).where(Filing.filing_no == data.filing_no))).first() is not None:
        raise DuplicateFiling(f"filing {data.filing_no} already exists")
    filing = Filing(
        body_id=body.id,
        filing_no=data.filing_no,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        scope=[item.model_dump() for item in data.scope],
    )
    session.add(filing)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request used the same filing number
        raise DuplicateFiling(f"filing {data.filing_no} already exists") from exc
    await emit(session, SCHEMA, "assessment.filing.filed", f"filing:{filing.id}", _event_data(filing))
    await session.commit()
    return FilingRead.model_validate(filing, from_attributes=True)


async def change_filing(
    session: AsyncSession,
    *,
    principal: Principal,
    body_id: uuid.UUID,
    filing_id: uuid.UUID,
    action: str,
    reason: str,
) -> FilingRead:
    """Suspends or revokes a filing; from then on no exam date it covered can pass the filing rule."""
    await load_owned_body(session, principal=principal, body_id=body_id)
    filing = (
        await session.exec(select(Filing).where(Filing.id == filing_id, Filing.body_id == body_id).with_for_update())
    ).first()
    if filing is None:
        raise FilingNotFound()
    allowed_from, to_status = TRANSITIONS[action]
    if filing.status not in allowed_from:
        raise FilingStateConflict(f"a {filing.status} filing cannot be {to_status}")
    filing.status, filing.status_reason = to_status, reason
    session.add(filing)
    await session.flush()
    await emit(session, SCHEMA, f"assessment.filing.{to_status}", f"filing:{filing.id}", _event_data(filing))
    await session.commit()
    return FilingRead.model_validate(filing, from_attributes=True)
