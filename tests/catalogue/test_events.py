"""The catalogue's edition event data: one model each that the catalogue writes and statistics parses."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.catalogue.events import EditionCreated, EditionFacts, EditionPublished, EditionSuperseded

CREATED = EditionCreated(edition_id="ed-2", title="2026 目录", based_on="ed-1", entry_count=3, by="admin-1")
PUBLISHED = EditionPublished(
    edition_id="ed-2",
    title="2026 目录",
    effective_from=date(2026, 8, 1),
    entry_count=3,
    previous_edition_id="ed-1",
    by="admin-1",
)
SUPERSEDED = EditionSuperseded(edition_id="ed-1", effective_to=date(2026, 7, 31), superseded_by="ed-2")


def test_the_data_is_the_json_the_feed_always_carried():
    assert CREATED.model_dump(mode="json") == {
        "edition_id": "ed-2",
        "title": "2026 目录",
        "based_on": "ed-1",
        "entry_count": 3,
        "by": "admin-1",
    }
    assert PUBLISHED.model_dump(mode="json") == {
        "edition_id": "ed-2",
        "title": "2026 目录",
        "effective_from": "2026-08-01",
        "entry_count": 3,
        "previous_edition_id": "ed-1",
        "by": "admin-1",
    }
    assert SUPERSEDED.model_dump(mode="json") == {
        "edition_id": "ed-1",
        "effective_to": "2026-07-31",
        "superseded_by": "ed-2",
    }


def test_consumers_parse_every_edition_event():
    assert EditionFacts.model_validate(CREATED.model_dump(mode="json")).model_dump() == {
        "edition_id": "ed-2",
        "title": "2026 目录",
        "effective_from": None,
        "effective_to": None,
    }
    assert EditionFacts.model_validate(PUBLISHED.model_dump(mode="json")).effective_from == date(2026, 8, 1)
    superseded = EditionFacts.model_validate(SUPERSEDED.model_dump(mode="json"))
    assert (superseded.title, superseded.effective_to) == ("", date(2026, 7, 31))
    with pytest.raises(ValidationError):
        EditionFacts.model_validate({"title": "x"})
