"""The points engine: a rule set's items are data, each of a kind this module knows.

Kinds: ``table`` (one declared option → points), ``flag`` (a bonus when a declared bool is true
or a count is above zero), ``highest`` (a declared list of options, the best one counts),
``counted`` (declared lists of achievements, each kind with an optional count limit, the lists
sharing one cap) and ``certificate`` (points by skill level from the learner's certificates, times
a catalogue multiplier with rounding, the highest one or all counting, capped). A new item of a
known kind, or a new option in a table, is a new rule set — no code. The declared vocabulary is
derived from the rule set itself: an option no item knows is 422 naming the field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from services.kit.problems import InvalidInput, field_error

ROUNDING = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "half_up": ROUND_HALF_UP}
LOC = ("body", "declared")


@dataclass(frozen=True)
class CertificateFact:
    """A certificate as the engine sees it: from assessment, with the catalogue's answer for its issue date."""

    number: str
    occupation_code: str
    level: int
    issued_on: date
    in_catalogue: bool
    edition_id: str | None
    hypothetical: bool = False


@dataclass(frozen=True)
class LineItem:
    item: str
    points: int
    rule: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Score:
    total: int
    threshold: int
    passes: bool
    items: list[LineItem]


def _get(declared: dict[str, Any], path: str) -> Any:
    value: Any = declared
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _option(value: Any) -> str | None:
    """Declared options are matched as strings (``school_tier: 1`` is option ``"1"``); bools never match."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


# ---- the declared vocabulary, derived from the items -------------------------------------------


def _check_table(item: dict[str, Any], value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> None:
    if _option(value) not in item["points"]:
        errors.append(field_error(loc, f"unknown option; one of {sorted(item['points'])}"))


def _check_flag(_: dict[str, Any], value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> None:
    if not isinstance(value, bool) and not (isinstance(value, int) and value >= 0):
        errors.append(field_error(loc, "expected true/false or a count of 0 or more"))


def _check_highest(item: dict[str, Any], value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> None:
    if not isinstance(value, list):
        errors.append(field_error(loc, "expected a list of options"))
        return
    for i, v in enumerate(value):
        _check_table(item, v, [*loc, i], errors)


def _check_counted_list(spec: dict[str, Any], value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> None:
    if not isinstance(value, list):
        errors.append(field_error(loc, "expected a list"))
        return
    keys: list[str] = spec["keys"]
    known = [{k.split("/")[i] for k in spec["points"]} for i in range(len(keys))]
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            errors.append(field_error([*loc, i], "expected an object"))
            continue
        for extra in sorted(set(entry) - set(keys)):
            errors.append(field_error([*loc, i, extra], "unknown field"))
        parts = [_option(entry.get(k)) for k in keys]
        bad = [k for k, p, ok in zip(keys, parts, known, strict=True) if p not in ok]
        for k in bad:
            errors.append(field_error([*loc, i, k], f"unknown option; one of {sorted(known[keys.index(k)])}"))
        if not bad and "/".join(p or "" for p in parts) not in spec["points"]:
            errors.append(field_error([*loc, i, keys[-1]], "this combination is not an option"))


Check = Callable[[Any, list[str | int], list[dict[str, Any]]], None]
ItemCheck = Callable[[dict[str, Any], Any, list[str | int], list[dict[str, Any]]], None]
CHECKS: dict[str, ItemCheck] = {"table": _check_table, "flag": _check_flag, "highest": _check_highest}


def _bind(check: ItemCheck, spec: dict[str, Any]) -> Check:
    def bound(value: Any, loc: list[str | int], errors: list[dict[str, Any]]) -> None:
        check(spec, value, loc, errors)

    return bound


def _fields(rules: dict[str, Any]) -> dict[str, Check]:
    """Each declared field path the rule set reads, with its check."""
    out: dict[str, Check] = {}
    for item in rules["items"]:
        if item["kind"] in CHECKS:
            out[item["field"]] = _bind(CHECKS[item["kind"]], item)
        elif item["kind"] == "counted":
            for spec in item["lists"]:
                out[spec["field"]] = _bind(_check_counted_list, spec)
    return out


def validate_declared(rules: dict[str, Any], declared: dict[str, Any]) -> None:
    """Every declared field and option must be one the rule set knows; all problems in one 422."""
    fields = _fields(rules)
    groups = {path.split(".")[0] for path in fields}
    errors: list[dict[str, Any]] = []
    for key, value in declared.items():
        if key not in groups:
            errors.append(field_error([*LOC, key], "unknown field for this scheme"))
        elif key not in fields:  # a group such as employer: {direct_signing, key_field, ...}
            if not isinstance(value, dict):
                errors.append(field_error([*LOC, key], "expected an object"))
                continue
            for sub, sub_value in value.items():
                check = fields.get(f"{key}.{sub}")
                if check is None:
                    errors.append(field_error([*LOC, key, sub], "unknown field for this scheme"))
                elif sub_value is not None:
                    check(sub_value, [*LOC, key, sub], errors)
        elif value is not None:
            fields[key](value, [*LOC, key], errors)
    if errors:
        raise InvalidInput("declared has unknown fields or options", errors=errors)


# ---- scoring ------------------------------------------------------------------------------------


def _table(item: dict[str, Any], declared: dict[str, Any], _: list[CertificateFact]) -> LineItem | None:
    option = _option(_get(declared, item["field"]))
    points = int(item["points"].get(option, 0)) if option is not None else 0
    if points <= 0:
        return None
    return LineItem(item["id"], points, f"{item['field']} = {option}", {"declared": {item["field"]: option}})


def _flag(item: dict[str, Any], declared: dict[str, Any], _: list[CertificateFact]) -> LineItem | None:
    value = _get(declared, item["field"])
    if not value or int(item["points"]) <= 0:
        return None
    return LineItem(item["id"], int(item["points"]), f"{item['field']} declared", {"declared": {item["field"]: value}})


def _highest(item: dict[str, Any], declared: dict[str, Any], _: list[CertificateFact]) -> LineItem | None:
    options = [o for o in (_option(v) for v in _get(declared, item["field"]) or []) if o in item["points"]]
    if not options:
        return None
    best = max(options, key=lambda o: int(item["points"][o]))
    points = int(item["points"][best])
    if points <= 0:
        return None
    return LineItem(item["id"], points, f"highest of {item['field']}", {"declared": {item["field"]: options}})


def _counted(item: dict[str, Any], declared: dict[str, Any], _: list[CertificateFact]) -> LineItem | None:
    counted: list[dict[str, Any]] = []
    for spec in item["lists"]:
        seen: Counter[str] = Counter()
        for entry in _get(declared, spec["field"]) or []:
            option = "/".join(_option(entry.get(k)) or "" for k in spec["keys"])
            points = int(spec["points"].get(option, 0))
            limit = spec.get("max_count", {}).get(option)
            over = limit is not None and seen[option] >= int(limit)
            seen[option] += 1
            counted.append(
                {"field": spec["field"], "option": option, "points": 0 if over else points, "over_limit": over}
            )
    subtotal = sum(c["points"] for c in counted)
    cap = item.get("cap")
    points = min(subtotal, int(cap)) if cap is not None else subtotal
    if points <= 0:
        return None
    rule = f"counted {', '.join(s['field'] for s in item['lists'])}" + (f", capped at {cap}" if cap is not None else "")
    return LineItem(item["id"], points, rule, {"counted": counted, "subtotal": subtotal, "cap": cap})


def _certificate_points(item: dict[str, Any], fact: CertificateFact) -> tuple[int, Decimal] | None:
    base = item["points_by_level"].get(str(fact.level))
    if base is None:
        return None
    multiplier = Decimal(item.get("catalogue_multiplier", "1")) if fact.in_catalogue else Decimal(1)
    points = (Decimal(int(base)) * multiplier).quantize(Decimal(1), rounding=ROUNDING[item["rounding"]])
    return int(points), multiplier


def _fact(f: CertificateFact) -> dict[str, Any]:
    """The fact as evidence, its fields in order (``dataclasses.asdict`` deep-copied every value: a
    twentieth of a batch evaluation's time under py-spy)."""
    return {
        "number": f.number,
        "occupation_code": f.occupation_code,
        "level": f.level,
        "issued_on": f.issued_on.isoformat(),
        "in_catalogue": f.in_catalogue,
        "edition_id": f.edition_id,
        "hypothetical": f.hypothetical,
    }


def _certificate(item: dict[str, Any], _: dict[str, Any], facts: list[CertificateFact]) -> LineItem | None:
    scored: list[tuple[int, CertificateFact, Decimal]] = []
    for fact in facts:
        answer = _certificate_points(item, fact)
        if answer is not None:
            scored.append((answer[0], fact, answer[1]))
    if not scored:
        return None
    # Highest points; among equals the earliest issued, then the number, so the answer is stable.
    scored.sort(key=lambda s: (-s[0], s[1].issued_on, s[1].number))
    chosen = scored[:1] if item["count"] == "highest_one" else scored
    subtotal = sum(s[0] for s in chosen)
    cap = item.get("cap")
    points = min(subtotal, int(cap)) if cap is not None else subtotal
    if points <= 0:
        return None
    evidence = {
        "certificates": [
            {
                **_fact(f),
                "base_points": int(item["points_by_level"][str(f.level)]),
                "multiplier": str(m),
                "points": p,
            }
            for p, f, m in chosen
        ],
        "not_counted": [f.number for _, f, _ in scored[len(chosen) :]],
        "subtotal": subtotal,
        "cap": cap,
    }
    rule = f"{item['count'].replace('_', ' ')} certificate by level"
    if item.get("catalogue_multiplier"):
        rule += f", x{item['catalogue_multiplier']} in the catalogue, rounded {item['rounding']}"
    if cap is not None:
        rule += f", capped at {cap}"
    return LineItem(item["id"], points, rule, evidence)


KINDS: dict[str, Callable[[dict[str, Any], dict[str, Any], list[CertificateFact]], LineItem | None]] = {
    "table": _table,
    "flag": _flag,
    "highest": _highest,
    "counted": _counted,
    "certificate": _certificate,
}


def score(rules: dict[str, Any], declared: dict[str, Any], certificates: list[CertificateFact]) -> Score:
    """The total and one line item per item that fired (points above zero), in the rule set's order."""
    items = [li for item in rules["items"] if (li := KINDS[item["kind"]](item, declared, certificates)) is not None]
    total = sum(li.points for li in items)
    threshold = int(rules["threshold"])
    return Score(total=total, threshold=threshold, passes=total >= threshold, items=items)
