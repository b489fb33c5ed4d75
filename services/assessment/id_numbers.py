"""Resident ID numbers (GB 11643), checked with python-stdnum, fast enough for 10,000-row batches.

``stdnum.cn.ric.is_valid`` looks the birth place up in its county table for every number, which
was 43% of a batch upload's time (py-spy on bench/assessment_upload). The same checks run here in
stdnum's own pieces, with the county lookup cached per (area code, birth year): students of one
university share a few hundred such pairs.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from stdnum.cn import ric
from stdnum.exceptions import ValidationError


@lru_cache(maxsize=65_536)
def _birth_place_known(area: str, year: int) -> bool:
    """Whether the 6-digit area code named a county in that year (stdnum's table)."""
    try:
        ric.get_birth_place(f"{area}{year:04d}0101000X")  # only the area and the year are read
    except ValidationError:
        return False
    return True


def is_valid_id_number(number: str) -> bool:
    """Length, digits, check digit, birth date and birth place, as ``ric.is_valid`` checks them.

    ``number`` is already normalised (no spaces, upper case)."""
    if len(number) != 18 or not number[:17].isdigit() or number[-1] != ric.calc_check_digit(number):
        return False
    # As ric.get_birth_date reads it, without its per-call Unicode clean-up of an already clean number.
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return _birth_place_known(number[:6], born.year)
