"""Bitstring Status Lists (W3C, v1.0): one ``message`` list of 2-bit entries per 131,072 certificates.

One status entry per credential carries both revocation and suspension (the Open Badges 3.0
schema takes a single ``credentialStatus`` object): ``statusPurpose: message``, ``statusSize: 2``
and the ``statusMessage`` table below. A certificate's ``status_index`` (random, see asm_0004)
is entry ``status_index % ENTRIES`` of list ``message-<status_index // ENTRIES>``; entry ``i``
is bits ``2i, 2i+1``, most significant first, bit 0 being the most significant bit of the first
byte. The lists are built per request from the few certificates that are not valid (a partial
index), so they are never stale.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.problems import NotFound

from .models import Certificate

# The spec's minimum number of entries (herd privacy); 2 bits each, so 32 KB uncompressed.
ENTRIES = 131_072
LIST_SIZE = ENTRIES  # entries per list (kept for callers that count in entries)
STATUS_SIZE = 2
PURPOSE = "message"
# Value of a certificate's entry, by certificate status; 0x3 is reserved and never set.
STATUS_VALUES = {"valid": 0x0, "suspended": 0x1, "revoked": 0x2}
STATUS_MESSAGES = [
    {"status": "0x0", "message": "valid"},
    {"status": "0x1", "message": "suspended"},
    {"status": "0x2", "message": "revoked"},
    {"status": "0x3", "message": "reserved (never set; treat as invalid)"},
]
LIST_ID = re.compile(r"^message-(\d{1,9})$")
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


class StatusListNotFound(NotFound):
    type_ = "status-list-not-found"
    title = "Status list not found"


@dataclass(frozen=True)
class ListRef:
    number: int

    @property
    def list_id(self) -> str:
        return f"{PURPOSE}-{self.number}"

    @classmethod
    def parse(cls, list_id: str) -> ListRef:
        match = LIST_ID.match(list_id)
        if match is None:
            raise StatusListNotFound(f"no status list {list_id!r}")
        return cls(int(match[1]))


def list_url(public_url: str, list_id: str) -> str:
    return f"{public_url.rstrip('/')}/v1/status-lists/{list_id}"


def status_entry(public_url: str, status_index: int) -> dict[str, Any]:
    """The ``credentialStatus`` of a credential: one 2-bit ``message`` entry."""
    number, entry = divmod(status_index, ENTRIES)
    url = list_url(public_url, ListRef(number).list_id)
    return {
        "id": f"{url}#{entry}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": PURPOSE,
        "statusListIndex": str(entry),
        "statusListCredential": url,
        "statusSize": STATUS_SIZE,
        "statusMessage": STATUS_MESSAGES,
    }


def encode_entries(values: dict[int, int], entries: int = ENTRIES, size: int = STATUS_SIZE) -> str:
    """Multibase base64url (prefix ``u``, no padding) of the GZIP'd bitstring, MSB first.

    ``values`` maps an entry index to its value (0 … 2**size − 1); other entries are 0.
    """
    bitstring = bytearray(entries * size // 8)
    for index, value in values.items():
        for k in range(size):
            if value >> (size - 1 - k) & 1:
                bit = index * size + k
                bitstring[bit // 8] |= 0x80 >> (bit % 8)
    # mtime=0: the same entries always encode to the same string.
    packed = gzip.compress(bytes(bitstring), mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def encode_bits(set_bits: list[int], size: int = ENTRIES) -> str:
    """A 1-bit list (``statusSize`` 1) with ``set_bits`` set."""
    return encode_entries(dict.fromkeys(set_bits, 1), size, 1)


def decode_entry(encoded_list: str, index: int, size: int = STATUS_SIZE) -> int:
    """The value of entry ``index`` (what a verifier reads), e.g. for ``POST /credentials/verify``."""
    if not encoded_list.startswith("u"):
        raise ValueError("encodedList must be multibase base64url (prefix 'u')")
    raw = encoded_list[1:]
    bitstring = gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    if len(bitstring) * 8 < ENTRIES * size:
        raise ValueError("status list shorter than the minimum")
    if (index + 1) * size > len(bitstring) * 8:
        raise ValueError("status list index out of range")
    value = 0
    for k in range(size):
        bit = index * size + k
        value = value << 1 | (bitstring[bit // 8] >> (7 - bit % 8)) & 1
    return value


async def entry_values(session: AsyncSession, ref: ListRef) -> dict[int, int]:
    """Entries of the list that are not 0; 404 for a list no certificate has reached yet."""
    first = ref.number * ENTRIES
    highest = (await session.exec(select(func.max(Certificate.status_index)))).one()
    if highest is None or highest < first:
        raise StatusListNotFound(f"no status list {ref.list_id!r}")
    index = col(Certificate.status_index)
    rows = await session.exec(
        select(index, col(Certificate.status))
        .where(col(Certificate.status) != "valid")  # the partial index's predicate
        .where(index >= first, index < first + ENTRIES)
        .order_by(index)
    )
    return {int(i) - first: STATUS_VALUES.get(status, 0x3) for i, status in rows.all() if i is not None}


def etag(encoded_list: str, variant: str) -> str:
    """Weak: the signature and ``validFrom`` differ per response, the entries do not."""
    return f'W/"{hashlib.sha256(encoded_list.encode()).hexdigest()[:32]}-{variant}"'


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
            "statusPurpose": PURPOSE,
            "encodedList": encode_entries(await entry_values(session, ref)),
        },
    }
