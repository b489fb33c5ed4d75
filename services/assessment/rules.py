"""The policy's rules on assessment, as plain functions (measure 一, DOMAIN.md §1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

PROVINCE = "31"
BODY_CODE = "0000"  # filed with the province
PASS_MARK = Decimal(60)
LEVELS_NEEDING_REVIEW = frozenset({1, 2})
KIND_LETTER = {"employer": "Y", "social": "S"}
# Level 5 is the lowest, 1 the highest (国家职业技能标准的五个等级).
LEVEL_NAMES = {5: "五级/初级工", 4: "四级/中级工", 3: "三级/高级工", 2: "二级/技师", 1: "一级/高级技师"}


def graduating_year_window(graduation_year: int) -> tuple[date, date]:
    """Graduating in Y means exams from (Y-1)-09-01 through Y-08-31 (the academic year)."""
    return date(graduation_year - 1, 9, 1), date(graduation_year, 8, 31)


def is_graduating_year(graduation_year: int, exam_date: date) -> bool:
    start, end = graduating_year_window(graduation_year)
    return start <= exam_date <= end


def needs_review(level: int) -> bool:
    """Levels 2 (技师) and 1 (高级技师) add a comprehensive review."""
    return level in LEVELS_NEEDING_REVIEW


def is_pass(level: int, theory: Decimal, practical: Decimal, review: Decimal | None) -> bool:
    if theory < PASS_MARK or practical < PASS_MARK:
        return False
    return not needs_review(level) or (review is not None and review >= PASS_MARK)


@dataclass(frozen=True)
class FilingView:
    status: str
    valid_from: date
    valid_to: date
    scope: tuple[Mapping[str, Any], ...]

    def in_force(self, on: date) -> bool:
        return self.status == "active" and self.valid_from <= on <= self.valid_to

    def covers(self, occupation_code: str, work_type: str | None, level: int) -> bool:
        """A scope item without a work type covers every work type of its occupation."""
        for item in self.scope:
            if item["occupation_code"] != occupation_code or level not in item["levels"]:
                continue
            if item.get("work_type") in (None, work_type):
                return True
        return False


def filing_problem(
    filings: Iterable[FilingView], exam_date: date, occupation_code: str, work_type: str | None, level: int
) -> str | None:
    """None when some filing in force on ``exam_date`` covers the occupation and level."""
    in_force = [f for f in filings if f.in_force(exam_date)]
    if not in_force:
        return "no_filing_in_force"
    if not any(f.covers(occupation_code, work_type, level) for f in in_force):
        return "outside_filing_scope"
    return None


def certificate_number(kind: str, body_sequence: int, issue_year: int, level: int, serial: int) -> str:
    """`[Y|S]` · body code · province · body sequence · issue year · level · serial = 22 chars."""
    if not (0 < body_sequence < 1_000_000 and 0 < serial < 1_000_000 and 1 <= level <= 5):
        raise ValueError("certificate number component out of range")
    return f"{KIND_LETTER[kind]}{BODY_CODE}{PROVINCE}{body_sequence:06d}{issue_year % 100:02d}{level}{serial:06d}"
