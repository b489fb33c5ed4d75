from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from stdnum.cn import uscc as uscc_std


class BodyCreate(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    uscc: str = Field(description="18-character unified social credit code (GB 32100)")
    kind: Literal["employer", "social"]
    university_org: str | None = Field(default=None, max_length=100)
    district: str = Field(min_length=1, max_length=50)

    @field_validator("uscc")
    @classmethod
    def _check_uscc(cls, value: str) -> str:
        value = value.strip().upper()
        if not uscc_std.is_valid(value):
            raise ValueError("not a valid unified social credit code (length, characters or check character)")
        return value

    @model_validator(mode="after")
    def _employer_needs_university(self) -> BodyCreate:
        if self.kind == "employer" and not self.university_org:
            raise ValueError("an employer body must name its university_org")
        return self


class BodyRead(BaseModel):
    id: uuid.UUID
    name: str
    uscc: str
    kind: str
    university_org: str | None
    district: str
