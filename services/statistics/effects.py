"""Effect evaluation: did listing occupations in a catalogue edition move certificate supply?

A difference-in-differences on certificates issued: occupations in the edition (treated) against
occupations certified in the same window but not in it (control), in equal windows before and after
the edition took effect. The answer carries every count it rests on, per occupation too.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import InvalidInput, NotFound, field_error

from .models import SCHEMA as S


class GroupCounts(BaseModel):
    occupations: int
    before: int
    after: int
    change: int
    per_occupation_before: float
    per_occupation_after: float
    per_occupation_change: float


class OccupationCounts(BaseModel):
    occupation_code: str
    group: str  # in_edition | outside
    before: int
    after: int


class EffectTable(BaseModel):
    edition_id: str
    title: str
    effective_from: date
    before: tuple[date, date]
    after: tuple[date, date]
    in_edition: GroupCounts
    outside: GroupCounts
    difference_in_differences: float
    method: str
    occupations: list[OccupationCounts]


class EditionNotFound(NotFound):
    type_ = "edition-not-found"
    title = "No published edition with this id in the statistics"


def shift_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31))


def group_counts(rows: list[OccupationCounts]) -> GroupCounts:
    n = len(rows)
    before, after = sum(r.before for r in rows), sum(r.after for r in rows)
    pb, pa = (before / n, after / n) if n else (0.0, 0.0)
    return GroupCounts(
        occupations=n,
        before=before,
        after=after,
        change=after - before,
        per_occupation_before=round(pb, 4),
        per_occupation_after=round(pa, 4),
        per_occupation_change=round(pa - pb, 4),
    )


_COUNTS = text(f"""
SELECT c.occupation_code,
       count(*) FILTER (WHERE ce.on_date >= :b0 AND ce.on_date < :t0) AS before,
       count(*) FILTER (WHERE ce.on_date >= :t0 AND ce.on_date < :a1) AS after
FROM {S}.certificate_events ce JOIN {S}.certificates c ON c.number = ce.number
WHERE ce.verb = 'issued' AND ce.on_date >= :b0 AND ce.on_date < :a1
GROUP BY c.occupation_code""")


async def evaluate(session: AsyncSession, *, edition_id: str, months: int) -> EffectTable:
    """The DiD table: (after − before) per occupation in the edition minus the same outside it."""
    edition = (
        await session.execute(
            text(f"SELECT title, effective_from FROM {S}.editions WHERE edition_id = :e AND status <> 'draft'"),
            {"e": edition_id},
        )
    ).first()
    if edition is None or edition.effective_from is None:
        raise EditionNotFound(f"edition {edition_id} is not a published edition the statistics have seen")
    if not 1 <= months <= 60:
        raise InvalidInput("Bad window", errors=[field_error(["query", "months"], "between 1 and 60")])
    t0: date = edition.effective_from
    b0, a1 = shift_months(t0, -months), shift_months(t0, months)
    listed = set(
        (
            await session.execute(
                text(f"SELECT DISTINCT occupation_code FROM {S}.edition_entries WHERE edition_id = :e"),
                {"e": edition_id},
            )
        ).scalars()
    )
    counts: dict[str, Any] = {
        r.occupation_code: r for r in await session.execute(_COUNTS, {"b0": b0, "t0": t0, "a1": a1})
    }
    rows = [
        OccupationCounts(
            occupation_code=code,
            group="in_edition" if code in listed else "outside",
            before=int(counts[code].before) if code in counts else 0,
            after=int(counts[code].after) if code in counts else 0,
        )
        for code in sorted(listed | set(counts))
    ]
    treated = group_counts([r for r in rows if r.group == "in_edition"])
    control = group_counts([r for r in rows if r.group == "outside"])
    return EffectTable(
        edition_id=edition_id,
        title=edition.title,
        effective_from=t0,
        before=(b0, t0 - timedelta(days=1)),
        after=(t0, a1 - timedelta(days=1)),
        in_edition=treated,
        outside=control,
        difference_in_differences=round(treated.per_occupation_change - control.per_occupation_change, 4),
        method=(
            "certificates issued per occupation, (after − before) for the edition's occupations minus "
            "(after − before) for occupations certified in the window but not in the edition"
        ),
        occupations=rows,
    )
