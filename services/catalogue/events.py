"""The data of the catalogue's edition events, defined once: the catalogue writes them, others parse them.

Like ``services/assessment/events.py``: the only module of the catalogue another service may import
(import-linter allows exactly ``services.<consumer>.** -> services.catalogue.events``), so it
imports nothing but pydantic and the standard library. A consumer parses the ``...Facts`` model (a
tolerant reader: unknown fields are ignored, missing optional ones take the defaults consumers have
always read them with); the catalogue builds the full ``...Event`` model.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

EDITION_CREATED = "catalogue.edition.created"
EDITION_PUBLISHED = "catalogue.edition.published"
EDITION_SUPERSEDED = "catalogue.edition.superseded"


class EditionFacts(BaseModel):
    """What a consumer of an edition event may rely on (which dates an event carries depends on its type)."""

    model_config = ConfigDict(frozen=True)

    edition_id: str
    title: str = ""
    effective_from: date | None = None
    effective_to: date | None = None


class EditionCreated(BaseModel):
    """``data`` of ``catalogue.edition.created``."""

    edition_id: str
    title: str
    based_on: str | None
    entry_count: int
    by: str


class EditionPublished(BaseModel):
    """``data`` of ``catalogue.edition.published`` (its entries are read from ``/v1/editions/{id}/entries``)."""

    edition_id: str
    title: str
    effective_from: date
    entry_count: int
    previous_edition_id: str | None
    by: str


class EditionSuperseded(BaseModel):
    """``data`` of ``catalogue.edition.superseded``."""

    edition_id: str
    effective_to: date
    superseded_by: str
