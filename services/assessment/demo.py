"""Demo data for ``make run``: two universities' employer bodies, one social body, filings, and a few
hundred synthetic students with results and certificates. Idempotent: safe on every start.

Every ID number is synthetic (made-up sequence numbers on a valid GB 11643 check digit).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from stdnum.cn import ric, uscc

from services.kit.clock import today_in_shanghai
from services.kit.feed import emit
from services.kit.pii import Sealer

from .bodies import body_read
from .candidates import Identities, candidate_rows, upsert_candidates
from .clients import OccupationAnswer
from .issuing import Result, raw_connection, write_results
from .models import SCHEMA, Body, Filing, Record
from .rules import is_pass
from .schemas import CandidateIn, RecordIn

OCCUPATIONS = {
    "6-25-02-05": "工业机器人系统运维员",
    "2-02-38-01": "人工智能工程技术人员",
    "4-04-05-05": "云计算工程技术人员",
    "4-10-01-05": "养老护理员",
    "6-31-07-01": "智能制造装调员",
}
UNIVERSITIES = {
    "demo-univ-a": ("上海示范应用技术大学", "奉贤区", 101),
    "demo-univ-b": ("上海示范职业技术学院", "浦东新区", 102),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "杰",
    "涛",
    "明",
    "超",
    "霞",
    "平",
    "刚",
    "晨",
    "宇",
]
STUDENTS_PER_UNIVERSITY = 150


def _uscc(n: int) -> str:
    base = f"91310000{n:09d}"
    return base + uscc.calc_check_digit(base + "0")


def _id_number(n: int) -> str:
    birth = date(2004, 1, 1) + timedelta(days=n % 700)
    base = f"310115{birth:%Y%m%d}{n % 1000:03d}"
    return base + ric.calc_check_digit(base + "0")


async def _body(session: AsyncSession, *, code: str, **fields: Any) -> tuple[Body, bool]:
    found = (await session.exec(select(Body).where(Body.uscc == code))).first()
    if found is not None:
        return found, False
    body = Body(uscc=code, **fields)
    session.add(body)
    await session.flush()
    await session.refresh(body)
    # The same event the API's create_body writes: feed readers (statistics) learn district and kind.
    read = body_read(body, [])
    await emit(session, SCHEMA, "assessment.body.filed", f"body:{body.id}", read.model_dump(mode="json"))
    return body, True


async def _filing(session: AsyncSession, body: Body, filing_no: str, codes: list[str]) -> bool:
    if (await session.exec(select(Filing).where(Filing.filing_no == filing_no))).first() is not None:
        return False
    session.add(
        Filing(
            body_id=body.id,
            filing_no=filing_no,
            valid_from=date(2025, 9, 1),
            valid_to=date(2028, 8, 31),
            scope=[{"occupation_code": c, "work_type": None, "levels": [1, 2, 3, 4, 5]} for c in codes],
        )
    )
    return True


def _student_records(org: str, offset: int) -> list[RecordIn]:
    codes = list(OCCUPATIONS)
    out = []
    for i in range(STUDENTS_PER_UNIVERSITY):
        n = offset + i
        level = (3, 4, 4, 5, 2)[i % 5]
        theory = Decimal(55 + (n * 7) % 45)
        out.append(
            RecordIn(
                external_id=f"demo-{org}-{i:04d}",
                occupation_code=codes[i % len(codes)],
                level=level,
                exam_date=date(2026, 10, 1) + timedelta(days=i % 40),
                theory_score=theory,
                practical_score=Decimal(60 + (n * 3) % 40),
                review_score=Decimal(75) if level <= 2 else None,
                candidate=CandidateIn(
                    id_number=_id_number(n),
                    name=SURNAMES[n % 20] + GIVEN[n % 18] + GIVEN[(n // 18) % 18],
                    student_no=f"{org[-1].upper()}2023{i:04d}",
                    school_org=org,
                    graduation_year=2027,
                    major="智能制造工程",
                ),
            )
        )
    return out


async def _results(
    session: AsyncSession, body: Body, records: list[RecordIn], *, learner_key: str, sealer: Sealer
) -> tuple[int, int]:
    known = set(
        (
            await session.exec(
                select(Record.external_id).where(
                    Record.body_id == body.id, col(Record.external_id).in_([r.external_id for r in records])
                )
            )
        ).all()
    )
    todo = [r for r in records if r.external_id not in known]
    if not todo:
        return 0, 0
    ids = Identities.of((r.candidate.id_number for r in todo), learner_key=learner_key)
    results = [
        Result(
            record_id=uuid.uuid4(),
            learner_id=ids.by_number[r.candidate.id_number],
            record=r,
            passed=is_pass(r.level, r.theory_score, r.practical_score, r.review_score),
        )
        for r in todo
    ]
    conn = await raw_connection(session)
    await upsert_candidates(
        conn, candidate_rows(((x.learner_id, x.record.candidate) for x in results), sealer, body.university_org)
    )
    issued_on = today_in_shanghai()
    # The demo codes are all in the shortage catalogue; no HTTP call at seed time.
    occupations: dict[tuple[str, int, str | None], OccupationAnswer] = {
        (c, lv, None): OccupationAnswer(c, lv, issued_on, True, name, True, "demo-edition")
        for c, name in OCCUPATIONS.items()
        for lv in range(1, 6)
    }
    await write_results(
        session,
        body=body,
        batch_id=uuid.uuid4(),
        issued_on=issued_on,
        results=results,
        occupations=occupations,
    )
    return len(results), sum(1 for x in results if x.passed)


async def load_demo(session: AsyncSession, *, learner_key: str, pii_key: str) -> dict[str, int]:
    """Creates what is missing of the demo set and commits once; returns what it created."""
    sealer = Sealer(pii_key)
    counts = {"bodies": 0, "filings": 0, "records": 0, "certificates": 0}
    bodies: list[tuple[Body, str]] = []
    for org, (name, district, n) in UNIVERSITIES.items():
        body, new = await _body(
            session,
            code=_uscc(n),
            name=f"{name}(用人单位评价机构)",
            kind="employer",
            university_org=org,
            district=district,
        )
        counts["bodies"] += new
        counts["filings"] += await _filing(session, body, f"沪人社评备-DEMO-{org[-1].upper()}-2025", list(OCCUPATIONS))
        bodies.append((body, org))
    social, new = await _body(
        session,
        code=_uscc(201),
        name="上海示范技能评价中心(社会培训评价组织)",
        kind="social",
        university_org="demo-univ-b",
        district="静安区",
    )
    counts["bodies"] += new
    counts["filings"] += await _filing(session, social, "沪人社评备-DEMO-S-2025", ["4-10-01-05", "6-31-07-01"])
    await session.flush()
    for offset, (body, org) in enumerate(bodies):
        created, passed = await _results(
            session, body, _student_records(org, offset * 1000), learner_key=learner_key, sealer=sealer
        )
        counts["records"] += created
        counts["certificates"] += passed
    await session.commit()
    return counts
