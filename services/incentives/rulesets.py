"""Use cases on versioned rule sets."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.feed import emit
from services.kit.pages import Page, PageParams, cursor_key, make_page
from services.kit.problems import Conflict, InvalidInput, NotFound, field_error

from .models import SCHEMA, RuleSet
from .schemas import RuleSetCreate, RuleSetRead

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

MAX_RULES_BYTES = 256 * 1024
SCHEMAS = Path(__file__).parent / "data" / "schemas"
# Each scheme's document is checked by its JSON Schema; the two points schemes share the engine's.
SCHEMA_OF = {
    "settlement_points": "points",
    "residence_points": "points",
    "skill_subsidy": "skill_subsidy",
    "university_performance": "university_performance",
    "district_funding": "district_funding",
}


class RuleSetNotFound(NotFound):
    type_ = "ruleset-not-found"
    title = "Rule set not found"


class NoRuleSetInForce(Conflict):
    type_ = "no-ruleset-in-force"
    title = "No published rule set of this scheme is in force on that date"


class RuleSetPublished(Conflict):
    type_ = "ruleset-published"
    title = "A published rule set cannot change"


def _read(r: RuleSet) -> RuleSetRead:
    return RuleSetRead.model_validate(r, from_attributes=True)


@functools.cache
def _validator(scheme: str) -> Draft202012Validator:
    # Imported here: jsonschema is ~9 MB of the service's resident memory (issue 15 keeps every
    # process under 150 MB) and only creating a rule set needs it.
    from jsonschema import Draft202012Validator

    schema = json.loads((SCHEMAS / f"{SCHEMA_OF[scheme]}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _duplicates(values: list[str]) -> list[int]:
    seen: set[str] = set()
    out = []
    for i, v in enumerate(values):
        if v in seen:
            out.append(i)
        seen.add(v)
    return out


def validate_rules(scheme: str, rules: dict[str, Any]) -> None:
    """422 naming every field of ``rules`` that the scheme's JSON Schema rejects."""
    errors = [
        field_error(["body", "rules", *e.absolute_path], e.message[:300])
        for e in sorted(_validator(scheme).iter_errors(rules), key=lambda e: [str(p) for p in e.absolute_path])
    ]
    if not errors and SCHEMA_OF[scheme] == "points":
        items = rules["items"]
        errors += [
            field_error(["body", "rules", "items", i, "id"], "duplicate item id")
            for i in _duplicates([it["id"] for it in items])
        ]
        fields = [it.get("field", "") for it in items]
        errors += [
            field_error(["body", "rules", "items", i, "field"], "another item reads this field")
            for i in _duplicates(fields)
            if fields[i]
        ]
    if errors:
        raise InvalidInput(f"rules do not match the {scheme} schema", errors=errors)


async def ruleset_in_force(session: AsyncSession, *, scheme: str, on: date) -> RuleSet:
    """The published rule set with the latest ``effective_from`` on or before ``on`` (latest version wins a tie)."""
    stmt = (
        select(RuleSet)
        .where(RuleSet.scheme == scheme, RuleSet.status == "published", col(RuleSet.effective_from) <= on)
        .order_by(col(RuleSet.effective_from).desc(), col(RuleSet.version).desc())
        .limit(1)
    )
    ruleset = (await session.exec(stmt)).first()
    if ruleset is None:
        raise NoRuleSetInForce(f"no published {scheme} rule set is in force on {on.isoformat()}")
    return ruleset


async def create_ruleset(session: AsyncSession, *, data: RuleSetCreate) -> RuleSetRead:
    """A new draft version of a scheme: rule values are data with their source noted."""
    from services.kit.problems import PayloadTooLarge

    if len(json.dumps(data.rules)) > MAX_RULES_BYTES:
        raise PayloadTooLarge("rules over 256 KiB")
    validate_rules(data.scheme, data.rules)
    # Versions per scheme are allocated under a transaction-scoped advisory lock.
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("rulesets:" + data.scheme))))
    current = (await session.exec(select(func.max(RuleSet.version)).where(RuleSet.scheme == data.scheme))).one()
    ruleset = RuleSet(**data.model_dump(), version=(current or 0) + 1)
    session.add(ruleset)
    await session.flush()
    read = _read(ruleset)
    await emit(
        session,
        SCHEMA,
        "incentives.ruleset.created",
        f"ruleset:{ruleset.id}",
        {"id": str(ruleset.id), "scheme": ruleset.scheme, "version": ruleset.version},
    )
    await session.commit()
    return read


async def publish_ruleset(session: AsyncSession, *, ruleset_id: uuid.UUID) -> RuleSetRead:
    ruleset = await session.get(RuleSet, ruleset_id, with_for_update=True)
    if ruleset is None:
        raise RuleSetNotFound()
    if ruleset.status == "published":
        raise RuleSetPublished(f"rule set {ruleset_id} is already published")
    ruleset.status = "published"
    ruleset.published_at = datetime.now(UTC)
    session.add(ruleset)
    await session.flush()
    read = _read(ruleset)
    await emit(
        session,
        SCHEMA,
        "incentives.ruleset.published",
        f"ruleset:{ruleset.id}",
        {
            "id": str(ruleset.id),
            "scheme": ruleset.scheme,
            "version": ruleset.version,
            "effective_from": ruleset.effective_from.isoformat(),
        },
    )
    await session.commit()
    return read


async def list_rulesets(session: AsyncSession, *, page: PageParams, scheme: str | None) -> Page[RuleSetRead]:
    stmt = select(RuleSet).order_by(col(RuleSet.scheme), col(RuleSet.version))
    if scheme:
        stmt = stmt.where(RuleSet.scheme == scheme)
    after = cursor_key(page, lambda a: (str(a[0]), int(a[1])))
    if after is not None:
        s, v = after
        stmt = stmt.where((col(RuleSet.scheme) > s) | ((col(RuleSet.scheme) == s) & (col(RuleSet.version) > v)))
    rows = (await session.exec(stmt.limit(page.limit + 1))).all()
    return make_page([_read(r) for r in rows], page, key=lambda r: [r.scheme, r.version])


async def get_ruleset(session: AsyncSession, *, ruleset_id: uuid.UUID) -> RuleSetRead:
    ruleset = await session.get(RuleSet, ruleset_id)
    if ruleset is None:
        raise RuleSetNotFound()
    return _read(ruleset)
