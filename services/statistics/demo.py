"""Demo data for ``make run``: graduating-student counts of the demo universities (made up, marked so)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from .graduates import GraduateCount, GraduateCounts, put_counts

SOURCE = "demo: made-up counts for the demo universities, not real enrolment data"
DEMO = [("demo-univ-a", "奉贤区", 600), ("demo-univ-b", "浦东新区", 450)]


async def load_demo(session: AsyncSession) -> dict[str, int]:
    """Idempotent: the same counts on every start."""
    items = [
        GraduateCount(university_org=org, graduation_year=2027, graduating_students=n, district=district, source=SOURCE)
        for org, district, n in DEMO
    ]
    return {"graduate_counts": await put_counts(session, data=GraduateCounts(items=items))}
