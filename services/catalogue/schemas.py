from __future__ import annotations

from pydantic import BaseModel


class OccupationRead(BaseModel):
    code: str
    name: str
    major: str
    middle: str
    minor: str
    classification: str
