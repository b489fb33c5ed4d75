"""Many learners' certificates in one call, for services that work on whole batches of learners.

Incentives evaluates points for up to a thousand learners per request; asking for each learner's
certificate list separately was one HTTP round trip per learner. This answers all of them with two
set-based reads (the certificates, and the schools the learners were uploaded as students of, so
the caller can keep a university to its own students). Service role only: the answer is not scoped
to a tenant, and holder names are not part of it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import text

from services.kit.db import Reader, read_rows

from .models import SCHEMA

MAX_LEARNERS = 5_000
CertificateStatus = Literal["valid", "suspended", "revoked"]


class LearnersCertificatesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] = Field(
        min_length=1, max_length=MAX_LEARNERS, description=f"up to {MAX_LEARNERS:,} learners"
    )
    status: CertificateStatus | None = Field(default=None, description="only certificates in this status")


class LearnerCertificate(BaseModel):
    number: str
    occupation_code: str
    work_type: str | None
    level: int
    issued_on: date
    status: CertificateStatus
    body_id: uuid.UUID
    university_org: str | None = Field(description="the university of the employer body that issued it, if any")


class LearnerCertificates(BaseModel):
    learner_id: str
    school_orgs: list[str] = Field(description="the universities that uploaded this learner as their student")
    certificates: list[LearnerCertificate]


class LearnersCertificatesRead(BaseModel):
    learners: list[LearnerCertificates] = Field(description="one per distinct learner asked for, in request order")


_CERTIFICATES = text(f"""
SELECT learner_id, number, occupation_code, work_type, level, issued_on, status, body_id, university_org
  FROM {SCHEMA}.certificates
 WHERE learner_id = ANY(CAST(:ids AS text[])) AND (CAST(:status AS text) IS NULL OR status = CAST(:status AS text))
 ORDER BY learner_id, number""")

_SCHOOLS = text(f"""
SELECT DISTINCT learner_id, school_org FROM {SCHEMA}.candidates
 WHERE learner_id = ANY(CAST(:ids AS text[])) AND school_org <> ''
 ORDER BY learner_id, school_org""")


async def certificates_of_learners(reader: Reader, data: LearnersCertificatesIn) -> LearnersCertificatesRead:
    ids = list(dict.fromkeys(data.learner_ids))
    certificates: dict[str, list[LearnerCertificate]] = defaultdict(list)
    for row in await read_rows(reader, _CERTIFICATES, {"ids": ids, "status": data.status}):
        certificates[row.learner_id].append(
            LearnerCertificate(
                number=row.number,
                occupation_code=row.occupation_code,
                work_type=row.work_type,
                level=row.level,
                issued_on=row.issued_on,
                status=row.status,
                body_id=row.body_id,
                university_org=row.university_org,
            )
        )
    schools: dict[str, list[str]] = defaultdict(list)
    for row in await read_rows(reader, _SCHOOLS, {"ids": ids}):
        schools[row.learner_id].append(row.school_org)
    return LearnersCertificatesRead(
        learners=[
            LearnerCertificates(learner_id=i, school_orgs=schools.get(i, []), certificates=certificates.get(i, []))
            for i in ids
        ]
    )
