"""A certificate as a signed W3C Verifiable Credential (VC Data Model 2.0, Open Badges 3.0).

Only the holder may take their certificate away as a credential. The subject is the
pseudonymous learner id (never the ID number or the full name; the masked name only). The
credential names the assessment body as issuer and is signed with this service's credential
key; verifiers take the key from ``GET /v1/credential-keys``.
"""

from __future__ import annotations

import time
from datetime import datetime
from datetime import time as clock
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal, SigningKey, sign_jwt
from services.kit.clock import SHANGHAI
from services.kit.pii import mask_name

from .certificates import CertificateNotFound, is_holder
from .models import Body, Certificate
from .rules import LEVEL_NAMES, needs_review
from .status_lists import VC_CONTEXT, status_entries

OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# Who signs the status lists: one list spans the certificates of every body.
SERVICE_ISSUER = "urn:skillpass:service:assessment"
VC_JWT = "vc+jwt"


def achievement_name(certificate: Certificate) -> str:
    """Occupation (and work type) and level, e.g. ``半导体芯片制造工 四级/中级工``."""
    occupation = certificate.occupation_name or certificate.occupation_code
    if certificate.work_type:
        occupation = f"{occupation}（{certificate.work_type}）"
    return f"{occupation} {LEVEL_NAMES[certificate.level]}"


def criteria_narrative(certificate: Certificate, body: Body) -> str:
    occupation = certificate.occupation_name or certificate.occupation_code
    parts = "理论知识考试、操作技能考核和综合评审" if needs_review(certificate.level) else "理论知识考试和操作技能考核"
    return (
        f"依据国家职业技能标准《{occupation}》（职业编码 {certificate.occupation_code}）"
        f"{LEVEL_NAMES[certificate.level]}的要求，{parts}成绩均达到 60 分及以上，"
        f"经备案的职业技能等级认定机构{body.name}评价合格。"
    )


def credential(certificate: Certificate, body: Body, *, public_url: str) -> dict[str, Any]:
    """The unsigned OpenBadgeCredential of ``certificate``."""
    code, level = certificate.occupation_code, certificate.level
    work_type = f":{certificate.work_type}" if certificate.work_type else ""
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"urn:skillpass:certificate:{certificate.number}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"职业技能等级证书：{achievement_name(certificate)}",
        "issuer": {"id": f"urn:skillpass:body:{body.id}", "type": ["Profile"], "name": body.name},
        "validFrom": datetime.combine(certificate.issued_on, clock(0), SHANGHAI).isoformat(),
        "credentialSubject": {
            "id": f"urn:skillpass:learner:{certificate.learner_id}",
            "type": ["AchievementSubject"],
            "holderNameMasked": mask_name(certificate.holder_name),
            "certificateNumber": certificate.number,
            "inCatalogueOnIssue": certificate.in_catalogue_on_issue,
            "achievement": {
                "id": f"urn:skillpass:achievement:{code}{work_type}:{level}",
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": achievement_name(certificate),
                "humanCode": code,
                "description": f"职业技能等级证书（{LEVEL_NAMES[level]}）：{achievement_name(certificate)}",
                "criteria": {"narrative": criteria_narrative(certificate, body)},
            },
        },
        "credentialStatus": status_entries(public_url, int(certificate.status_index or 0)),
    }


async def certificate_credential(
    session: AsyncSession, *, principal: Principal, number: str, key: SigningKey, public_url: str
) -> str:
    """The holder's certificate as a ``vc+jwt``; anyone else gets 404, as for the certificate."""
    certificate = await session.get(Certificate, number)
    if certificate is None or not is_holder(principal, certificate):
        raise CertificateNotFound()
    body = await session.get(Body, certificate.body_id)
    if body is None:  # a foreign key guarantees it
        raise CertificateNotFound()
    claims = credential(certificate, body, public_url=public_url)
    return sign_jwt(key, {**claims, "iat": int(time.time())}, typ=VC_JWT)
