"""The credential key ring: which key signs now, and every key a verifier may still meet.

The first key is the one from ``credential_key_pem`` / ``credential_key_path``; it signs from the
beginning. Each entry of ``credential_keys`` adds a key that signs from its ``signs_from`` instant
(the next key of a rotation), or only a public JWK (a retired key whose private part is gone).
At any instant the key with the latest ``signs_from`` not after it signs; **every** key stays in
the published JWKS, so credentials signed by a retired key still verify and a next key is
published before it starts to sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, model_validator

from services.kit.auth import SigningKey

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class CredentialKeySpec(BaseModel):
    """One more key: ``pem`` or ``path`` (private, signs from ``signs_from``) or ``public_jwk`` (retired)."""

    pem: str | None = None
    path: Path | None = None
    public_jwk: dict[str, str] | None = None
    signs_from: datetime = BEGINNING

    @model_validator(mode="after")
    def _one_source(self) -> CredentialKeySpec:
        if sum(x is not None for x in (self.pem, self.path, self.public_jwk)) != 1:
            raise ValueError("a credential key needs exactly one of pem, path, public_jwk")
        if self.signs_from.tzinfo is None:
            raise ValueError("signs_from needs a time zone, e.g. 2027-01-01T00:00:00+08:00")
        return self


@dataclass(frozen=True)
class RingEntry:
    signs_from: datetime
    public_jwk: dict[str, str]
    key: SigningKey | None  # None: retired, verify only


@dataclass(frozen=True)
class KeyRing:
    entries: tuple[RingEntry, ...]

    @classmethod
    def build(cls, first: SigningKey, more: list[CredentialKeySpec]) -> KeyRing:
        entries = [RingEntry(BEGINNING, first.public_jwk, first)]
        for spec in more:
            if spec.public_jwk is not None:
                if not spec.public_jwk.get("kid"):
                    raise ValueError("a retired credential key's public_jwk needs a kid")
                entries.append(RingEntry(spec.signs_from, spec.public_jwk, None))
                continue
            key = SigningKey.from_pem(spec.pem.encode() if spec.pem else Path(str(spec.path)).read_bytes())
            entries.append(RingEntry(spec.signs_from, key.public_jwk, key))
        kids = [e.public_jwk["kid"] for e in entries]
        if len(set(kids)) != len(kids):
            raise ValueError("the same credential key is configured twice")
        return cls(tuple(sorted(entries, key=lambda e: e.signs_from)))

    def signing_key(self, now: datetime) -> SigningKey:
        """The key that signs at ``now``: the latest ``signs_from`` not after it."""
        current = [e.key for e in self.entries if e.key is not None and e.signs_from <= now]
        if not current:
            raise RuntimeError("no credential key signs at this instant")
        return current[-1]

    def public_jwk(self, kid: str) -> dict[str, str] | None:
        return next((e.public_jwk for e in self.entries if e.public_jwk["kid"] == kid), None)

    def jwks(self) -> dict[str, Any]:
        """Every key, newest first; each with ``signs_from`` is not a JWK member, so it is left out."""
        return {"keys": [dict(e.public_jwk) for e in reversed(self.entries)]}
