"""The data of assessment's certificate events, defined once: assessment writes them, others parse them.

The only module of a service that another service may import (import-linter allows exactly
``services.<consumer>.* -> services.assessment.events``): it is the published contract of the
feed, so it imports nothing but pydantic and the standard library, never assessment's code.
A consumer parses :class:`CertificateFacts` (a tolerant reader: fields it does not know, and the
ones it does not need, may come and go); assessment builds the full :class:`CertificateEvent`.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CERTIFICATE_ISSUED = "assessment.certificate.issued"
CERTIFICATE_REVOKED = "assessment.certificate.revoked"
CertificateStatus = Literal["valid", "suspended", "revoked"]


class CertificateFacts(BaseModel):
    """What any consumer of a certificate event may rely on: the occupation, level and issue date.

    An event without ``level`` counts as level 0 and one without ``issued_on`` on the day the
    event occurred (the catalogue's supply signal has always read them so).
    """

    model_config = ConfigDict(frozen=True)

    occupation_code: str
    level: int = Field(default=0, ge=0, le=5)
    issued_on: date | None = None


class CertificateEvent(CertificateFacts):
    """``data`` of ``assessment.certificate.issued``: never a raw ID number or a full name."""

    number: str
    learner_id: str
    occupation_name: str | None
    work_type: str | None
    level: int = Field(ge=1, le=5)
    body_id: uuid.UUID
    university_org: str | None
    issued_on: date
    in_catalogue_on_issue: bool
    edition_id: str | None
    status: CertificateStatus
    holder_name_masked: str
    # Added later (additive, optional): the candidate's graduation year and school as the record
    # carried them, for consumers that judge graduating-year rules (incentives). None when unknown.
    graduation_year: int | None = None
    school_org: str | None = None


class CertificateStatusChanged(CertificateEvent):
    """``data`` of ``assessment.certificate.suspended|reinstated|revoked``: the certificate after it."""

    reason: str | None


BODY_FILED = "assessment.body.filed"
BODY_CHANGED = "assessment.body.changed"


class BodyFacts(BaseModel):
    """What a consumer of ``assessment.body.filed|changed`` may rely on (the data is the API's body).

    A body without kind or district reads as "unknown" (the statistics service has always read them so).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str = "unknown"
    district: str = "unknown"
    university_org: str | None = None


class CertificateRecord(BaseModel):
    """What a reader that keeps its own copy of a certificate parses from any certificate event.

    Tolerant like :class:`CertificateFacts`: only the number is required; a field an event does not
    carry is None and the reader decides what that means. Not a base of :class:`CertificateEvent`
    (there ``body_id`` is a UUID); a test pins that it parses every event assessment writes.
    """

    model_config = ConfigDict(frozen=True)

    number: str
    learner_id: str | None = None
    occupation_code: str | None = None
    occupation_name: str | None = None
    level: int | None = Field(default=None, ge=0, le=5)
    body_id: str | None = None
    university_org: str | None = None
    issued_on: date | None = None
    in_catalogue_on_issue: bool | None = None
    status: str | None = None
    reason: str | None = None
    graduation_year: int | None = None
    school_org: str | None = None
