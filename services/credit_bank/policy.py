"""The conversion rules of measure 三.4 as plain functions (DOMAIN.md §5), testable without a database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today_in_shanghai() -> date:
    return datetime.now(SHANGHAI).date()


@dataclass(frozen=True)
class Policy:
    """Values the policy does not publish, read from a rule file with its source."""

    source: str
    max_credits_per_certificate: Decimal
    default_max_converted_ratio: Decimal

    @classmethod
    def load(cls, path: Path) -> Policy:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            source=str(raw["source"]),
            max_credits_per_certificate=Decimal(str(raw["max_credits_per_certificate"])),
            default_max_converted_ratio=Decimal(str(raw["default_max_converted_ratio"])),
        )


@dataclass(frozen=True)
class RuleCandidate:
    id: uuid.UUID
    programme_id: uuid.UUID | None
    occupation_code: str
    min_level: int
    valid_from: date
    valid_to: date | None


def admits(min_level: int, level: int) -> bool:
    """Level 1 is the highest: a rule for min_level 3 admits certificates of level 3, 2 and 1."""
    return level <= min_level


def in_force(valid_from: date, valid_to: date | None, on: date) -> bool:
    return valid_from <= on and (valid_to is None or on <= valid_to)


def choose_rule(
    rules: Iterable[RuleCandidate], *, programme_id: uuid.UUID, occupation_code: str, level: int, on: date
) -> RuleCandidate | None:
    """The rule in force on ``on`` with the highest requirement the certificate meets; the programme's
    own rules before general ones (a general rule applies only where the programme has none)."""
    fitting = [
        r
        for r in rules
        if r.occupation_code == occupation_code
        and r.programme_id in (programme_id, None)
        and admits(r.min_level, level)
        and in_force(r.valid_from, r.valid_to, on)
    ]
    own = [r for r in fitting if r.programme_id == programme_id]
    pool = own or fitting
    return min(pool, key=lambda r: r.min_level) if pool else None


def periods_overlap(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (a_to is None or b_from <= a_to) and (b_to is None or a_from <= b_to)


def cap(graduation_credits: Decimal, max_converted_ratio: Decimal) -> Decimal:
    """The most credits a programme accepts from conversions, to one decimal (rounded down)."""
    return (graduation_credits * max_converted_ratio).quantize(Decimal("0.1"), rounding="ROUND_DOWN")
