"""The Open Badges 3.0 ``AchievementCredential`` rules the verifier checks at run time.

The official JSON Schema (1EdTech, Draft 2019-09) is not shipped with the service: it is 1EdTech's
document, and production must not read the repository's ``../shared`` folder. This module restates
its constraints for the properties an AchievementCredential carries — required members, the
``@context`` order, the ``type`` sets, ``issuer`` as a Profile, the AchievementSubject and its
Achievement, ``credentialStatus`` as **one** object, RFC 3339 instants, and the shapes of the
optional arrays. ``tests/assessment/test_ob3_conformance.py`` runs the official schema and this
module side by side on our credentials and on broken variants of them, so the two cannot drift.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = re.compile(r"^https://purl\.imsglobal\.org/spec/ob/v3p0/context(-3\.\d\.\d)*\.json$")
CREDENTIAL_TYPES = {"AchievementCredential", "OpenBadgeCredential"}
REQUIRED = ("@context", "id", "type", "credentialSubject", "issuer", "validFrom")
ARRAYS = ("endorsement", "endorsementJwt", "evidence", "proof", "credentialSchema", "termsOfUse")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str) or not RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


def _type_set(value: Any, required: set[str]) -> bool:
    """An array of strings, at least one, containing one of ``required``."""
    return (
        isinstance(value, list)
        and len(value) >= 1
        and all(isinstance(t, str) for t in value)
        and bool(required & set(value))
    )


def _strings(obj: dict[str, Any], where: str, names: tuple[str, ...], errors: list[str]) -> None:
    for name in names:
        if name in obj and not isinstance(obj[name], str):
            errors.append(f"{where}.{name} must be a string")


def _profile(value: Any, where: str, errors: list[str]) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, dict):
        errors.append(f"{where} must be a URI or a Profile object")
        return
    for name in ("id", "type"):
        if name not in value:
            errors.append(f"{where}.{name} is required")
    _strings(value, where, ("id", "name", "description", "url", "email", "phone"), errors)
    if "type" in value and not _type_set(value["type"], {"Profile"}):
        errors.append(f"{where}.type must be an array containing 'Profile'")


def _achievement(value: Any, where: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append(f"{where} must be an Achievement object")
        return
    for name in ("id", "type", "criteria", "description", "name"):
        if name not in value:
            errors.append(f"{where}.{name} is required")
    _strings(value, where, ("id", "description", "name", "humanCode", "achievementType", "fieldOfStudy"), errors)
    if "type" in value and not _type_set(value["type"], {"Achievement"}):
        errors.append(f"{where}.type must be an array containing 'Achievement'")
    if "criteria" in value:
        if not isinstance(value["criteria"], dict):
            errors.append(f"{where}.criteria must be an object")
        else:
            _strings(value["criteria"], f"{where}.criteria", ("id", "narrative"), errors)
    if "creator" in value:
        _profile(value["creator"], f"{where}.creator", errors)


def _subject(value: Any, errors: list[str]) -> None:
    where = "credentialSubject"
    if not isinstance(value, dict):
        errors.append(f"{where} must be one AchievementSubject object")
        return
    for name in ("type", "achievement"):
        if name not in value:
            errors.append(f"{where}.{name} is required")
    _strings(value, where, ("id", "licenseNumber", "narrative", "role", "term"), errors)
    if "type" in value and not _type_set(value["type"], {"AchievementSubject"}):
        errors.append(f"{where}.type must be an array containing 'AchievementSubject'")
    if "achievement" in value:
        _achievement(value["achievement"], f"{where}.achievement", errors)
    for name in ("activityStartDate", "activityEndDate"):
        if name in value and not _is_datetime(value[name]):
            errors.append(f"{where}.{name} must be an RFC 3339 date-time")
    for name in ("identifier", "result"):
        if name in value and not isinstance(value[name], list):
            errors.append(f"{where}.{name} must be an array")


def _context(context: Any, errors: list[str]) -> None:
    if not isinstance(context, list) or len(context) < 2:
        errors.append("@context must be an array of at least 2 items")
        return
    if context[0] != VC_V2:
        errors.append(f"@context[0] must be {VC_V2}")
    if not isinstance(context[1], str) or not OB_CONTEXT.match(context[1]):
        errors.append("@context[1] must be the Open Badges 3.0 context URL")
    if any(not isinstance(c, str | dict) for c in context[2:]):
        errors.append("@context items after the second must be URIs or objects")


def _status(status: Any, errors: list[str]) -> None:
    if not isinstance(status, dict):
        errors.append("credentialStatus must be one object, not a list")
        return
    for name in ("id", "type"):
        if not isinstance(status.get(name), str):
            errors.append(f"credentialStatus.{name} is required (a string)")


def _shapes(doc: dict[str, Any], errors: list[str]) -> None:
    for name in ("validFrom", "validUntil", "awardedDate"):
        if name in doc and not _is_datetime(doc[name]):
            errors.append(f"{name} must be an RFC 3339 date-time with a time zone")
    for name in ("refreshService", "image"):
        if name in doc and not isinstance(doc[name], dict):
            errors.append(f"{name} must be an object")
    for name in ARRAYS:
        if name in doc and not isinstance(doc[name], list):
            errors.append(f"{name} must be an array")


def check(doc: Any) -> list[str]:
    """What keeps ``doc`` from being a valid OB 3.0 AchievementCredential; empty when it is one."""
    if not isinstance(doc, dict):
        return ["the credential must be a JSON object"]
    errors = [f"{name} is required" for name in REQUIRED if name not in doc]
    if "@context" in doc:
        _context(doc["@context"], errors)
    _strings(doc, "credential", ("id", "name", "description"), errors)
    kinds = doc.get("type")
    if "type" in doc and not (_type_set(kinds, {"VerifiableCredential"}) and _type_set(kinds, CREDENTIAL_TYPES)):
        errors.append("type must contain 'VerifiableCredential' and 'AchievementCredential' (or 'OpenBadgeCredential')")
    _shapes(doc, errors)
    if "issuer" in doc:
        _profile(doc["issuer"], "issuer", errors)
    if "credentialSubject" in doc:
        _subject(doc["credentialSubject"], errors)
    if "credentialStatus" in doc:
        _status(doc["credentialStatus"], errors)
    return errors
