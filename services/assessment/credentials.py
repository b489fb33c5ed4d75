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

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal, SigningKey, sign_jwt
from services.kit.clock import SHANGHAI
from services.kit.pii import mask_name
from services.kit.problems import NotFound, Problem

from .certificates import CertificateNotFound, is_holder
from .clients import CreditBankClient
from .models import Body, Certificate
from .rules import LEVEL_NAMES, needs_review
from .status_lists import VC_CONTEXT, status_entry

OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# Our own terms (the ones Open Badges 3.0 has no term for), published at ``context_url``.
CONTEXT_ID = "skillpass-v1"
TERMS = "urn:skillpass:terms:"
XSD = "http://www.w3.org/2001/XMLSchema#"
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


def context_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/v1/contexts/{CONTEXT_ID}"


def context_document() -> dict[str, Any]:
    """The JSON-LD context defining the properties we add beyond VC 2.0 and Open Badges 3.0."""
    return {
        "@context": {
            "@version": 1.1,
            "@protected": True,
            "holderNameMasked": {"@id": f"{TERMS}holderNameMasked", "@type": f"{XSD}string"},
            "inCatalogueOnIssue": {"@id": f"{TERMS}inCatalogueOnIssue", "@type": f"{XSD}boolean"},
            # On a learner record: "included", or "unavailable" when the credit bank did not answer.
            "creditBankStatus": {"@id": f"{TERMS}creditBankStatus", "@type": f"{XSD}string"},
        }
    }


def credential(certificate: Certificate, body: Body, *, public_url: str) -> dict[str, Any]:
    """The unsigned AchievementCredential of ``certificate``.

    ``awardedDate`` and ``validFrom`` are the issue date (00:00 Asia/Shanghai): a re-issue (a new
    download, a new key) signs the same claims again, so neither moves.
    """
    code, level = certificate.occupation_code, certificate.level
    work_type = f":{certificate.work_type}" if certificate.work_type else ""
    issued = datetime.combine(certificate.issued_on, clock(0), SHANGHAI).isoformat()
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT, context_url(public_url)],
        "id": f"urn:skillpass:certificate:{certificate.number}",
        "type": ["VerifiableCredential", "AchievementCredential"],
        "name": f"职业技能等级证书：{achievement_name(certificate)}",
        "issuer": {"id": f"urn:skillpass:body:{body.id}", "type": ["Profile"], "name": body.name},
        "validFrom": issued,
        "awardedDate": issued,
        "credentialSubject": {
            "id": f"urn:skillpass:learner:{certificate.learner_id}",
            "type": ["AchievementSubject"],
            "licenseNumber": certificate.number,
            "holderNameMasked": mask_name(certificate.holder_name),
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
        "credentialStatus": status_entry(public_url, int(certificate.status_index or 0)),
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


CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"


class LearnerRecordNotFound(NotFound):
    type_ = "learner-record-not-found"
    title = "No valid certificate to put in a learner record"


def conversion_parts(
    programmes: list[dict[str, Any]], *, org: str | None, achievement_of: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The credit bank's posted conversions as CLR 2.0 ``Achievement``s, and ``Association``s tying
    each to the bundled certificate it was converted from (docs/assessment.md, "Learner record").

    ``org`` narrows to one university's programmes; ``achievement_of`` maps a bundled certificate
    number to its achievement id. Reversed conversions and suspended certificates are left out.
    """
    achievements: list[dict[str, Any]] = []
    associations: list[dict[str, Any]] = []
    for programme in programmes:
        if org is not None and programme.get("university_org") != org:
            continue
        for conversion in programme.get("conversions") or []:
            if conversion.get("status") != "posted" or conversion.get("suspended"):
                continue
            conversion_id = f"urn:skillpass:credit-bank:conversion:{conversion['conversion_id']}"
            courses = [str(c) for c in conversion.get("course_codes") or []]
            credits = float(conversion["credits"])
            number = conversion.get("certificate_number")
            source = f"职业技能等级证书 {number}" if number else "学习成果"
            achievements.append(
                {
                    "id": conversion_id,
                    "type": ["Achievement"],
                    "achievementType": "Course",
                    "name": f"{programme['name']}（{programme['code']}）学分转换：{'、'.join(courses) or '—'}",
                    "description": (
                        f"{source}经学分银行转换为{programme['name']}专业 {credits:g} 学分"
                        + (f"，替代课程 {'、'.join(courses)}。" if courses else "。")
                    ),
                    "criteria": {
                        "narrative": "依据该专业在学分银行登记的转换规则（职业编码、最低等级、学分与替代课程）入账。"
                    },
                    "creditsAvailable": credits,
                    "humanCode": str(programme["code"]),
                    "tag": courses,
                    "creator": {"id": f"urn:skillpass:university:{programme['university_org']}", "type": ["Profile"]},
                }
            )
            if number in achievement_of:
                associations.append(
                    {
                        "type": ["Association"],
                        "associationType": "isRelatedTo",
                        "sourceId": achievement_of[number],
                        "targetId": conversion_id,
                    }
                )
    return achievements, associations


async def learner_clr(
    session: AsyncSession,
    *,
    principal: Principal,
    learner_id: str,
    key: SigningKey,
    public_url: str,
    now: datetime,
    credit_bank: CreditBankClient | None = None,
) -> str:
    """The learner's valid certificates as one CLR 2.0 ``ClrCredential``, signed as ``vc+jwt``.

    The holder gets every valid certificate; a university the ones it issued (tenancy, as for
    ``GET /certificates?learner_id=``). Anyone else, or no valid certificate: 404. The credit
    bank's conversions join (a university's: its own programmes only); if the credit bank does not
    answer, the record is still issued, ``partial`` and ``creditBankStatus: unavailable``.
    """
    if not (principal.is_learner(learner_id) or principal.is_university):
        raise LearnerRecordNotFound()
    stmt = (
        select(Certificate, Body)
        .join(Body, col(Body.id) == col(Certificate.body_id))
        .where(Certificate.learner_id == learner_id, Certificate.status == "valid")
        .order_by(col(Certificate.issued_on), col(Certificate.number))
    )
    if principal.is_university:
        stmt = stmt.where(Certificate.university_org == principal.org)
    rows = (await session.exec(stmt)).all()
    if not rows:
        raise LearnerRecordNotFound()
    achievements = [credential(certificate, body, public_url=public_url) for certificate, body in rows]
    scope = f":{principal.org}" if principal.is_university else ""
    credit_bank_status = "unavailable"
    conversions: list[dict[str, Any]] = []
    associations: list[dict[str, Any]] = []
    if credit_bank is not None:
        programmes: list[dict[str, Any]] | None
        try:
            programmes = await credit_bank.programmes(learner_id)
        except Problem:
            programmes = None  # the record goes out with certificates only, and says so
        if programmes is not None:
            try:
                conversions, associations = conversion_parts(
                    programmes,
                    org=principal.org if principal.is_university else None,
                    achievement_of={
                        vc["credentialSubject"]["licenseNumber"]: vc["credentialSubject"]["achievement"]["id"]
                        for vc in achievements
                    },
                )
                credit_bank_status = "included"
            except (KeyError, TypeError, ValueError):
                conversions, associations = [], []  # a malformed transcript counts as no answer
    subject: dict[str, Any] = {
        "id": f"urn:skillpass:learner:{learner_id}",
        "type": ["ClrSubject"],
        "verifiableCredential": achievements,
    }
    if conversions:
        subject["achievement"] = conversions
    if associations:
        subject["association"] = associations
    clr = {
        "@context": [VC_CONTEXT, CLR_CONTEXT, OB_CONTEXT, context_url(public_url)],
        "id": f"urn:skillpass:clr:{learner_id}{scope}",
        "type": ["VerifiableCredential", "ClrCredential"],
        "name": f"职业技能等级证书汇总（{len(achievements)} 项证书，{len(conversions)} 项学分转换）",
        "description": "该学习者全部有效职业技能等级证书的汇总记录（Comprehensive Learner Record）"
        + ("，含学分银行的学分转换。" if credit_bank_status == "included" else "；学分银行暂不可用，未含学分转换。"),
        "issuer": {"id": SERVICE_ISSUER, "type": ["Profile"], "name": "skillpass 职业技能等级认定服务"},
        "validFrom": now.isoformat(timespec="seconds"),
        "awardedDate": now.isoformat(timespec="seconds"),
        # A university's record holds only its own certificates and programmes; without the
        # credit bank the record lacks the conversions.
        "partial": bool(scope) or credit_bank_status != "included",
        "creditBankStatus": credit_bank_status,
        "credentialSubject": subject,
    }
    return sign_jwt(key, {**clr, "iat": int(now.timestamp())}, typ=VC_JWT)
