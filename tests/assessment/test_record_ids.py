"""Record ids made in bulk (issue 15, B4) are random version-4 UUIDs, unique, as text."""

from __future__ import annotations

import uuid

from services.assessment.issuing import random_ids


def test_random_ids_are_unique_version_4_uuids() -> None:
    ids = random_ids(20_000)
    assert len(set(ids)) == 20_000
    for text in ids:
        u = uuid.UUID(text)
        assert u.version == 4 and u.variant == uuid.RFC_4122 and str(u) == text
    assert random_ids(0) == []
