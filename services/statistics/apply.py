"""How each source event lands in the read model.

Every write is guarded by the event's feed id: an entity row changes only for an event newer than
the one it was last written by, and count rows are keyed by the event itself. Applying a page
twice, or a whole feed again from the start, therefore leaves exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment import events as assessment
from services.catalogue import events as catalogue
from services.credit_bank import events as credit_bank
from services.incentives import events as incentives

from .models import SCHEMA

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Writes:
    """A page's statements, run per statement in one ``executemany`` each, in order of first use.

    Safe because every statement is guarded by the event id (or keyed by it), and statements that
    depend on one another (an edition's stub before its patch, a claim's row before its status) are
    first used in that order; within one statement the page's order is kept.
    """

    def __init__(self) -> None:
        self.batches: dict[Any, list[dict[str, Any]]] = {}

    def add(self, statement: Any, params: dict[str, Any]) -> None:
        self.batches.setdefault(statement, []).append(params)

    async def flush(self, session: AsyncSession) -> None:
        for statement, rows in self.batches.items():
            await session.execute(statement, rows)
        self.batches.clear()


Handler = Callable[[Writes, dict[str, Any]], None]


def policy_date(event: dict[str, Any]) -> date:
    """The event's day in Asia/Shanghai (policy dates are Shanghai dates)."""
    raw = event.get("occurred_at")
    when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return when.astimezone(SHANGHAI).date()


def _upsert(table: str, key: str, columns: list[str]) -> Any:
    cols = ", ".join([key, *columns, "event_id"])
    params = ", ".join(f":{c}" for c in [key, *columns, "event_id"])
    sets = ", ".join(f"{c} = excluded.{c}" for c in [*columns, "event_id"])
    return text(
        f"INSERT INTO {SCHEMA}.{table} AS t ({cols}) VALUES ({params}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE t.event_id < excluded.event_id"
    )


_BODY = _upsert("bodies", "body_id", ["kind", "district", "university_org"])
_CERT = _upsert(
    "certificates",
    "number",
    [
        "learner_id",
        "occupation_code",
        "occupation_name",
        "level",
        "body_id",
        "university_org",
        "issued_on",
        "status",
        "in_catalogue_on_issue",
    ],
)
_CERT_EVENT = text(
    f"INSERT INTO {SCHEMA}.certificate_events (event_id, number, verb, on_date) "
    "VALUES (:event_id, :number, :verb, :on_date) ON CONFLICT DO NOTHING"
)
_EDITION = _upsert("editions", "edition_id", ["title", "status", "effective_from", "effective_to"])
_EDITION_PATCH = text(
    f"UPDATE {SCHEMA}.editions SET status = :status, effective_from = coalesce(:effective_from, effective_from), "
    "effective_to = coalesce(:effective_to, effective_to), event_id = :event_id "
    "WHERE edition_id = :edition_id AND event_id < :event_id"
)
_EDITION_STUB = text(
    f"INSERT INTO {SCHEMA}.editions (edition_id, title, status, event_id) "
    "VALUES (:edition_id, :title, 'draft', 0) ON CONFLICT DO NOTHING"
)
_DROP_ENTRIES = text(f"DELETE FROM {SCHEMA}.edition_entries WHERE edition_id = :edition_id AND event_id < :event_id")
_ENTRY = text(
    f"INSERT INTO {SCHEMA}.edition_entries (entry_id, edition_id, occupation_code, work_type, min_level, industries, "
    "event_id) VALUES (:entry_id, :edition_id, :occupation_code, :work_type, :min_level, "
    "CAST(:industries AS varchar[]), :event_id) ON CONFLICT (entry_id) DO NOTHING"
)
_CONVERSION = _upsert(
    "conversions", "conversion_id", ["learner_id", "university_org", "occupation_code", "level", "credits", "posted_on"]
)
_REVERSAL = text(
    f"UPDATE {SCHEMA}.conversions SET reversed_on = :on, event_id = :event_id "
    "WHERE conversion_id = :conversion_id AND event_id < :event_id"
)
_EVALUATION = _upsert(
    "evaluations",
    "evaluation_id",
    ["learner_id", "scheme", "total", "threshold", "skill_points", "passes", "evaluated_on"],
)
_CLAIM = _upsert(
    "subsidy_claims",
    "claim_id",
    ["learner_id", "certificate_number", "occupation_code", "level", "in_catalogue", "status", "amount", "claimed_on"],
)
_CLAIM_STATUS = text(
    f"UPDATE {SCHEMA}.subsidy_claims SET status = :status, amount = coalesce(:amount, amount), "
    "decided_on = coalesce(:decided_on, decided_on), paid_on = coalesce(:paid_on, paid_on), event_id = :event_id "
    "WHERE claim_id = :claim_id AND event_id < :event_id"
)


def body_filed(w: Writes, event: dict[str, Any]) -> None:
    d = assessment.BodyFacts.model_validate(event["data"])
    w.add(
        _BODY,
        {
            "body_id": d.id,
            "kind": d.kind or "unknown",
            "district": d.district or "unknown",
            "university_org": d.university_org,
            "event_id": event["id"],
        },
    )


def certificate_changed(w: Writes, event: dict[str, Any]) -> None:
    """Issued, suspended, reinstated, revoked: the certificate's state, and the change on its day."""
    d, verb = assessment.CertificateRecord.model_validate(event["data"]), event["type"].rsplit(".", 1)[1]
    issued_on = d.issued_on or policy_date(event)
    w.add(
        _CERT,
        {
            "number": d.number,
            "learner_id": d.learner_id or "",
            "occupation_code": d.occupation_code or "",
            "occupation_name": d.occupation_name,
            "level": d.level or 0,
            "body_id": d.body_id or "",
            "university_org": d.university_org,
            "issued_on": issued_on,
            "status": d.status or ("valid" if verb in ("issued", "reinstated") else verb),
            "in_catalogue_on_issue": bool(d.in_catalogue_on_issue),
            "event_id": event["id"],
        },
    )
    on_date = issued_on if verb == "issued" else policy_date(event)
    w.add(_CERT_EVENT, {"event_id": event["id"], "number": d.number, "verb": verb, "on_date": on_date})


def edition_created(w: Writes, event: dict[str, Any]) -> None:
    d = catalogue.EditionFacts.model_validate(event["data"])
    w.add(
        _EDITION,
        {
            "edition_id": d.edition_id,
            "title": d.title,
            "status": "draft",
            "effective_from": None,
            "effective_to": None,
            "event_id": event["id"],
        },
    )


def edition_published(w: Writes, event: dict[str, Any]) -> None:
    """Published editions never change, so their entries (fetched with the page) are final."""
    d = catalogue.EditionFacts.model_validate(event["data"])
    edition_id = d.edition_id
    w.add(_EDITION_STUB, {"edition_id": edition_id, "title": d.title})
    w.add(
        _EDITION_PATCH,
        {
            "edition_id": edition_id,
            "status": "published",
            "effective_from": d.effective_from,
            "effective_to": None,
            "event_id": event["id"],
        },
    )
    entries = event.get("entries")
    if entries is None:
        return
    w.add(_DROP_ENTRIES, {"edition_id": edition_id, "event_id": event["id"]})
    for e in entries:
        w.add(
            _ENTRY,
            {
                "entry_id": str(e["id"]),
                "edition_id": edition_id,
                "occupation_code": str(e["occupation_code"]),
                "work_type": e.get("work_type"),
                "min_level": e.get("min_level"),
                "industries": [str(i) for i in e.get("industries") or []],
                "event_id": event["id"],
            },
        )


def edition_superseded(w: Writes, event: dict[str, Any]) -> None:
    d = catalogue.EditionFacts.model_validate(event["data"])
    w.add(_EDITION_STUB, {"edition_id": d.edition_id, "title": ""})
    w.add(
        _EDITION_PATCH,
        {
            "edition_id": d.edition_id,
            "status": "superseded",
            "effective_from": None,
            "effective_to": d.effective_to,
            "event_id": event["id"],
        },
    )


def conversion_posted(w: Writes, event: dict[str, Any]) -> None:
    d = credit_bank.ConversionFacts.model_validate(event["data"])
    w.add(
        _CONVERSION,
        {
            "conversion_id": d.conversion_id,
            "learner_id": d.learner_id,
            "university_org": d.university_org,
            "occupation_code": d.occupation_code,
            "level": d.level,
            "credits": d.credits,
            "posted_on": policy_date(event),
            "event_id": event["id"],
        },
    )


def conversion_reversed(w: Writes, event: dict[str, Any]) -> None:
    d = credit_bank.ConversionFacts.model_validate(event["data"])
    w.add(_REVERSAL, {"conversion_id": d.conversion_id, "on": policy_date(event), "event_id": event["id"]})


def evaluation_recorded(w: Writes, event: dict[str, Any]) -> None:
    """Threshold and skill-item points come with the event (None for events recorded before they did)."""
    d = incentives.EvaluationFacts.model_validate(event["data"])
    w.add(
        _EVALUATION,
        {
            "evaluation_id": d.id,
            "learner_id": d.learner_id,
            "scheme": d.scheme,
            "total": d.total,
            "threshold": d.threshold,
            "skill_points": d.skill_points,
            "passes": d.passes,
            "evaluated_on": policy_date(event),
            "event_id": event["id"],
        },
    )


def claim_submitted(w: Writes, event: dict[str, Any]) -> None:
    d = incentives.ClaimFacts.model_validate(event["data"])
    w.add(
        _CLAIM,
        {
            "claim_id": d.claim_id,
            "learner_id": d.learner_id,
            "certificate_number": d.certificate_number,
            "occupation_code": d.occupation_code,
            "level": d.level,
            "in_catalogue": d.in_catalogue,
            "status": d.status or "pending",
            "amount": d.amount,
            "claimed_on": d.claimed_on or policy_date(event),
            "event_id": event["id"],
        },
    )


def claim_changed(w: Writes, event: dict[str, Any]) -> None:
    """decided (approved / rejected) or paid; a claim first seen here is taken whole."""
    d, verb = incentives.ClaimFacts.model_validate(event["data"]), event["type"].rsplit(".", 1)[1]
    claim_submitted(w, {**event, "id": 0})  # creates the row if the submit was never seen
    status = "paid" if verb == "paid" else (d.status or verb)
    w.add(
        _CLAIM_STATUS,
        {
            "claim_id": d.claim_id,
            "status": status,
            "amount": d.amount,
            "decided_on": policy_date(event) if verb == "decided" else None,
            "paid_on": (d.paid_on or policy_date(event)) if verb == "paid" else None,
            "event_id": event["id"],
        },
    )


# Source → event type → handler. Types not listed are read past (the cursor still moves).
HANDLERS: dict[str, dict[str, Handler]] = {
    "assessment": {
        assessment.BODY_FILED: body_filed,
        assessment.BODY_CHANGED: body_filed,
        **{
            f"assessment.certificate.{v}": certificate_changed for v in ("issued", "suspended", "reinstated", "revoked")
        },
    },
    "catalogue": {
        catalogue.EDITION_CREATED: edition_created,
        catalogue.EDITION_PUBLISHED: edition_published,
        catalogue.EDITION_SUPERSEDED: edition_superseded,
    },
    "credit_bank": {
        credit_bank.CONVERSION_POSTED: conversion_posted,
        credit_bank.CONVERSION_REVERSED: conversion_reversed,
    },
    "incentives": {
        incentives.EVALUATION_RECORDED: evaluation_recorded,
        incentives.CLAIM_SUBMITTED: claim_submitted,
        incentives.CLAIM_DECIDED: claim_changed,
        incentives.CLAIM_PAID: claim_changed,
    },
}
