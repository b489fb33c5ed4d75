"""Bitstring Status Lists (W3C, v1.0): one list per purpose per 131,072 certificates.

A certificate's ``status_index`` (from a sequence, at issue) is bit ``status_index % LIST_SIZE``
of list ``<purpose>-<status_index // LIST_SIZE>``. Bit 0 is the most significant bit of the
first byte. A revoked certificate sets its revocation bit, a suspended one its suspension bit;
reinstating clears it. The lists are built per request from the few certificates that are not
valid (a partial index), so they are never stale.
"""

from __future__ import annotations

import base64
import gzip
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import NotFound

from .models import Certificate

# The spec's minimum: 16 KB uncompressed, so one set bit does not single out a certificate.
LIST_SIZE = 131_072
PURPOSES = {"revocation": "revoked", "suspension": "suspended"}
LIST_ID = re.compile(r"^(revocation|suspension)-(\d{1,9})$")
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


class StatusListNotFound(NotFound):
    type_ = "status-list-not-found"
    title = "Status list not found"


@dataclass(frozen=True)
class ListRef:
    purpose: str
    number: int

    @property
    def list_id(self) -> str:
        return f"{self.purpose}-{self.number}"

    @classmethod
    def parse(cls, list_id: str) -> ListRef:
        match = LIST_ID.match(list_id)
        if match is None:
            raise StatusListNotFound(f"no status list {list_id!r}")
        return cls(match[1], int(match[2]))


def list_url(public_url: str, list_id: str) -> str:
    return f"{public_url.rstrip('/')}/v1/status-lists/{list_id}"


def status_entries(public_url: str, status_index: int) -> list[dict[str, str]]:
    """The ``credentialStatus`` of a credential: its revocation and suspension bits."""
    number, bit = divmod(status_index, LIST_SIZE)
    entries = []
    for purpose in PURPOSES:
        url = list_url(public_url, ListRef(purpose, number).list_id)
        entries.append(
            {
                "id": f"{url}#{bit}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose,
                "statusListIndex": str(bit),
                "statusListCredential": url,
            }
        )
    return entries


def encode_bits(set_bits: list[int], size: int = LIST_SIZE) -> str:
    """Multibase base64url (prefix ``u``, no padding) of the GZIP'd bitstring, MSB first."""
    bitstring = bytearray(size // 8)
    for i in set_bits:
        bitstring[i // 8] |= 0x80 >> (i % 8)
    # mtime=0: the same bits always encode to the same string.
    packed = gzip.compress(bytes(bitstring), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


async def set_bits(session: AsyncSession, ref: ListRef) -> list[int]:
    """Bits of the list that are 1; 404 for a list no certificate has reached yet."""
    first = ref.number * LIST_SIZE
    highest = (await session.exec(select(func.max(Certificate.status_index)))).one()
    if highest is None or highest < first:
        raise StatusListNotFound(f"no status list {ref.list_id!r}")
    index = col(Certificate.status_index)
    rows = await session.exec(
        select(index)
        .where(col(Certificate.status) != "valid")  # the partial index's predicate
        .where(Certificate.status == PURPOSES[ref.purpose], index >= first, index < first + LIST_SIZE)
        .order_by(index)
    )
    return [int(i) - first for i in rows.all() if i is not None]


async def status_list_credential(
    session: AsyncSession, *, list_id: str, public_url: str, issuer: str, now: datetime
) -> dict[str, Any]:
    """The unsigned BitstringStatusListCredential of ``list_id``."""
    ref = ListRef.parse(list_id)
    url = list_url(public_url, ref.list_id)
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": now.isoformat(timespec="seconds"),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": ref.purpose,
            "encodedList": encode_bits(await set_bits(session, ref)),
        },
    }
