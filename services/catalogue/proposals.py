"""Adjustment proposals: add / remove / change an entry, with a rationale; approved into a draft
edition (the change is applied there, in the same transaction) or rejected, recording who and when.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.pages import Page, PageParams, make_page, newest_first_after, newest_first_key
from services.kit.problems import Conflict, NotFound

from . import entries
from .editions import load_draft
from .models import Proposal
from .schemas import EntryCreate, EntryUpdate
from .schemas_adjust import DecisionIn, ProposalCreate, ProposalRead
from .sql import emit_event


class ProposalNotFound(NotFound):
    type_ = "proposal-not-found"
    title = "Proposal not found"


class ProposalDecided(Conflict):
    type_ = "proposal-decided"
    title = "The proposal has already been decided"


class ProposalNotApplicable(Conflict):
    type_ = "proposal-not-applicable"
    title = "The proposal does not fit the draft"


def proposal_read(p: Proposal) -> ProposalRead:
    return ProposalRead.model_validate(p, from_attributes=True)


async def submit(session: AsyncSession, *, body: ProposalCreate, actor: str) -> ProposalRead:
    proposal = Proposal(
        action=body.action,
        occupation_code=body.occupation_code,
        work_type=body.work_type,
        changes=body.changes(),
        rationale=body.rationale,
        period=body.period,
        proposed_by=actor,
    )
    session.add(proposal)
    await session.flush()
    await session.refresh(proposal)
    read = proposal_read(proposal)
    await emit_event(session, "catalogue.proposal.submitted", str(proposal.id), read.model_dump(mode="json"))
    await session.commit()
    return read


async def get(session: AsyncSession, *, proposal_id: uuid.UUID) -> ProposalRead:
    proposal = await session.get(Proposal, proposal_id)
    if proposal is None:
        raise ProposalNotFound(f"no proposal {proposal_id}")
    return proposal_read(proposal)


async def list_proposals(session: AsyncSession, *, page: PageParams, status: str | None) -> Page[ProposalRead]:
    stmt = select(Proposal).order_by(col(Proposal.proposed_at).desc(), col(Proposal.id).desc())
    if status:
        stmt = stmt.where(Proposal.status == status)
    after = newest_first_after(page, col(Proposal.proposed_at), col(Proposal.id))
    if after is not None:
        stmt = stmt.where(after)
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    return make_page([proposal_read(p) for p in rows], page, key=lambda p: newest_first_key(p.proposed_at, p.id))


async def _apply(session: AsyncSession, proposal: Proposal, edition_id: uuid.UUID, actor: str) -> None:
    edition = await load_draft(session, edition_id)
    existing = await entries.find_entry(
        session, edition_id=edition.id, code=proposal.occupation_code, work_type=proposal.work_type
    )
    if proposal.action == "add":
        if existing is not None:
            raise ProposalNotApplicable(f"the draft already lists {proposal.occupation_code}")
        body = EntryCreate.model_validate(
            {"occupation_code": proposal.occupation_code, "work_type": proposal.work_type, **proposal.changes}
        )
        await entries.add_entry(session, edition_id=edition.id, body=body, actor=actor, commit=False)
        return
    if existing is None:
        raise ProposalNotApplicable(f"the draft does not list {proposal.occupation_code}")
    if proposal.action == "remove":
        await entries.remove_entry(session, edition_id=edition.id, entry_id=existing.id, actor=actor, commit=False)
    else:
        await entries.update_entry(
            session,
            edition_id=edition.id,
            entry_id=existing.id,
            actor=actor,
            body=EntryUpdate.model_validate(proposal.changes),
            commit=False,
        )


async def decide(session: AsyncSession, *, proposal_id: uuid.UUID, body: DecisionIn, actor: str) -> ProposalRead:
    """Approve (the change lands in the named draft, all or nothing) or reject; decided once."""
    proposal = (await session.exec(select(Proposal).where(Proposal.id == proposal_id).with_for_update())).first()
    if proposal is None:
        raise ProposalNotFound(f"no proposal {proposal_id}")
    if proposal.status != "pending":
        raise ProposalDecided(f"proposal {proposal_id} was {proposal.status} by {proposal.decided_by}")
    if body.decision == "approve":
        assert body.edition_id is not None  # checked by DecisionIn
        await _apply(session, proposal, body.edition_id, actor)
        proposal.applied_to = body.edition_id
    proposal.status = "approved" if body.decision == "approve" else "rejected"
    proposal.decided_by, proposal.decided_at, proposal.decision_note = actor, datetime.now(UTC), body.note
    session.add(proposal)
    await session.flush()
    read = proposal_read(proposal)
    await emit_event(session, f"catalogue.proposal.{proposal.status}", str(proposal.id), read.model_dump(mode="json"))
    await session.commit()
    return read
