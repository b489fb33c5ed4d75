"""The one clock for policy dates: the policy counts days in Shanghai, wherever the server runs."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today_in_shanghai() -> date:
    """Today in Shanghai: issue dates, the edition in force, \"not in the future\" all use it."""
    return datetime.now(SHANGHAI).date()
