from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Scheme = Literal["settlement_points", "residence_points", "skill_subsidy", "university_performance"]


class RuleSetCreate(BaseModel):
    scheme: Scheme
    title: str = Field(min_length=1, max_length=200)
    effective_from: date
    rules: dict[str, Any] = Field(description="The scheme's rule values (kept as data, never code)")
    source: str = Field(min_length=1, max_length=500, description="Where each value comes from, or 'default'")


class RuleSetRead(RuleSetCreate):
    id: uuid.UUID
    version: int
    status: Literal["draft", "published"]
    published_at: datetime | None
