from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import BaseModel, Field


class ProgrammeCreate(BaseModel):
    university_org: str = Field(min_length=1, max_length=100)
    code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    graduation_credits: Decimal = Field(gt=0, le=1000, max_digits=6, decimal_places=1)
    # RULE DEFAULT (DOMAIN.md §5): converted credits at most 50% of graduation credits.
    max_converted_ratio: Decimal = Field(default=Decimal("0.5"), gt=0, le=1, max_digits=4, decimal_places=3)


class ProgrammeRead(ProgrammeCreate):
    id: uuid.UUID
