"""What one catalogue edition adds, removes and changes relative to another (entries compared).

Its own module because it needs both editions and their entries: ``entries`` builds on
``editions`` (a draft is loaded there), so the diff cannot live in either without a cycle.
"""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from .editions import load_edition
from .entries import entries_of
from .schemas import DiffRead, EntryChange, EntryRead

COMPARED_FIELDS = ("min_level", "industries", "shortage_level", "reason", "review_by")


def _key(entry: EntryRead) -> tuple[str, str]:
    return entry.occupation_code, entry.work_type or ""


def _changed_fields(before: EntryRead, after: EntryRead) -> list[str]:
    out = []
    for name in COMPARED_FIELDS:
        a, b = getattr(before, name), getattr(after, name)
        if name == "industries":
            a, b = sorted(a), sorted(b)
        if a != b:
            out.append(name)
    return out


def diff_entries(
    new: list[EntryRead], old: list[EntryRead]
) -> tuple[list[EntryRead], list[EntryRead], list[EntryChange]]:
    """Entries are matched on (occupation, work type); pure, so it is unit-tested without a database."""
    new_by, old_by = {_key(e): e for e in new}, {_key(e): e for e in old}
    added = [new_by[k] for k in sorted(new_by.keys() - old_by.keys())]
    removed = [old_by[k] for k in sorted(old_by.keys() - new_by.keys())]
    changed = []
    for k in sorted(new_by.keys() & old_by.keys()):
        fields = _changed_fields(old_by[k], new_by[k])
        if fields:
            changed.append(EntryChange(before=old_by[k], after=new_by[k], fields=fields))
    return added, removed, changed


async def diff_editions(session: AsyncSession, *, edition_id: uuid.UUID, against: uuid.UUID) -> DiffRead:
    """What ``edition_id`` adds, removes and changes relative to ``against``."""
    await load_edition(session, edition_id)
    await load_edition(session, against)
    added, removed, changed = diff_entries(await entries_of(session, edition_id), await entries_of(session, against))
    return DiffRead(edition_id=edition_id, against=against, added=added, removed=removed, changed=changed)
