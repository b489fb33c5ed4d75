"""Labour-market signals: one observation per occupation and period, idempotent upsert.

Re-sending the same observation changes nothing and announces nothing; a different value for
the same occupation and period is a correction that replaces it (and is announced).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import InvalidInput, PayloadTooLarge, field_error

from .models import SCHEMA
from .schemas_adjust import MAX_SIGNALS, SignalIn, SignalsResult
from .sql import emit_events, run

_RESOLVE = text(f"""
SELECT q.code AS asked, coalesce(o.code, a.code) AS code
FROM unnest(CAST(:codes AS varchar[])) AS q(code)
LEFT JOIN {SCHEMA}.occupations o ON o.classification = :cls AND o.code = q.code
LEFT JOIN {SCHEMA}.occupation_aliases a ON a.classification = :cls AND a.old_code = q.code""")

_UPSERT = text(f"""
INSERT INTO {SCHEMA}.signals AS s (occupation_code, period, vacancies, job_seekers, median_wage, wage_growth,
                                   fill_rate, recorded_by)
SELECT c, p, v, j, m, g, f, :by FROM unnest(CAST(:codes AS varchar[]), CAST(:periods AS varchar[]),
  CAST(:vacancies AS int[]), CAST(:seekers AS int[]), CAST(:wages AS numeric[]), CAST(:growth AS numeric[]),
  CAST(:fill AS numeric[])) AS t(c, p, v, j, m, g, f)
ON CONFLICT (occupation_code, period) DO UPDATE SET vacancies = excluded.vacancies,
  job_seekers = excluded.job_seekers, median_wage = excluded.median_wage, wage_growth = excluded.wage_growth,
  fill_rate = excluded.fill_rate, recorded_by = excluded.recorded_by, recorded_at = now()
WHERE (s.vacancies, s.job_seekers, s.median_wage, s.wage_growth, s.fill_rate)
  IS DISTINCT FROM (excluded.vacancies, excluded.job_seekers, excluded.median_wage, excluded.wage_growth,
                    excluded.fill_rate)
RETURNING s.occupation_code, s.period, (xmax = 0) AS created""")


async def record_signals(
    session: AsyncSession, *, rows: list[SignalIn], classification: str, actor: str
) -> SignalsResult:
    """Stores the observations all or nothing: every unknown occupation or repeated key is named."""
    if len(rows) > MAX_SIGNALS:
        raise PayloadTooLarge(f"at most {MAX_SIGNALS} observations per call")
    if not rows:
        return SignalsResult(received=0, created=0, updated=0, unchanged=0)
    resolved = {
        r.asked: r.code
        for r in await run(
            session, _RESOLVE, {"codes": sorted({r.occupation_code for r in rows}), "cls": classification}
        )
    }
    errors: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        code = resolved.get(row.occupation_code)
        if code is None:
            errors.append(field_error(["body", index, "occupation_code"], "not in the classification"))
            continue
        if (code, row.period) in seen:
            errors.append(
                field_error(["body", index, "period"], f"same occupation and period as row {seen[code, row.period]}")
            )
        seen[code, row.period] = index
    if errors:
        raise InvalidInput("Some observations are invalid; none was stored", errors=errors)
    written = (
        await run(
            session,
            _UPSERT,
            {
                "codes": [resolved[r.occupation_code] for r in rows],
                "periods": [r.period for r in rows],
                "vacancies": [r.vacancies for r in rows],
                "seekers": [r.job_seekers for r in rows],
                "wages": [r.median_wage for r in rows],
                "growth": [r.wage_growth for r in rows],
                "fill": [r.fill_rate for r in rows],
                "by": actor,
            },
        )
    ).all()
    by_key = {(resolved[r.occupation_code], r.period): r for r in rows}
    await emit_events(
        session,
        [
            (
                "catalogue.signal.recorded",
                f"{w.occupation_code}/{w.period}",
                {
                    **by_key[w.occupation_code, w.period].model_dump(mode="json"),
                    "occupation_code": w.occupation_code,
                    "correction": not w.created,
                    "by": actor,
                },
            )
            for w in written
        ],
    )
    await session.commit()
    created = sum(1 for w in written if w.created)
    return SignalsResult(
        received=len(rows),
        created=created,
        updated=len(written) - created,
        unchanged=len(rows) - len(written),
    )
