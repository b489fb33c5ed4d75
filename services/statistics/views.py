"""The statistics views: one SQL per view over the read model, grouped by what the caller asks.

Each view names its dimensions (what ``group_by`` may list), its measures (aggregates), the
filters it understands, and shares derived from the measures. Year-on-year growth is added when
the answer is grouped by ``year`` or ``month`` and the same row a year earlier exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kit.auth import Principal
from services.kit.problems import InvalidInput, NotFound, field_error

from .models import SCHEMA as S

DATA = Path(__file__).parent / "data"


@cache
def industry_reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "industries_3_6.json").read_text(encoding="utf-8"))
    return data


def codes_3_6() -> list[str]:
    """Occupations of the '3+6' industries (livelihood services are not among them)."""
    ref = industry_reference()["industries"]
    return sorted({c for i in ref.values() if i["group"] in ("3", "6") for c in i["occupations"]})


@dataclass(frozen=True)
class View:
    base: str  # a FROM clause (or subquery) with the aliases the expressions use
    dims: dict[str, str]
    measures: dict[str, str]
    filters: dict[str, str]  # query parameter → SQL expression it compares with
    period: str | None  # the date expression ``from`` / ``to`` apply to
    org: str | None  # expression a university's rows are limited by
    shares: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (numerator, denominator)
    # Amounts (credits, yuan): always a decimal string with this many places, a zero sum too ("0.0").
    # Every other measure is a count: always a JSON integer.
    places: dict[str, int] = field(default_factory=dict)


_ACADEMIC_YEAR = (
    "(extract(year FROM c.issued_on)::int + CASE WHEN extract(month FROM c.issued_on) >= 9 THEN 1 ELSE 0 END)"
)

VIEWS: dict[str, View] = {
    "certificates": View(
        base=f"{S}.certificate_events ce JOIN {S}.certificates c ON c.number = ce.number "
        f"LEFT JOIN {S}.bodies b ON b.body_id = c.body_id",
        dims={
            "month": "to_char(ce.on_date, 'YYYY-MM')",
            "year": "extract(year FROM ce.on_date)::int",
            "district": "coalesce(b.district, 'unknown')",
            "university": "coalesce(c.university_org, '-')",
            "occupation": "c.occupation_code",
            "occupation_name": "coalesce(c.occupation_name, '')",
            "level": "c.level",
            "body_kind": "coalesce(b.kind, 'unknown')",
            "in_catalogue": "c.in_catalogue_on_issue",
            "industry_3_6": "(c.occupation_code = ANY(CAST(:codes36 AS varchar[])))",
        },
        measures={
            "issued": "count(*) FILTER (WHERE ce.verb = 'issued')",
            "suspended": "count(*) FILTER (WHERE ce.verb = 'suspended')",
            "reinstated": "count(*) FILTER (WHERE ce.verb = 'reinstated')",
            "revoked": "count(*) FILTER (WHERE ce.verb = 'revoked')",
            "issued_level_3_plus": "count(*) FILTER (WHERE ce.verb = 'issued' AND c.level <= 3)",
            "issued_in_catalogue": "count(*) FILTER (WHERE ce.verb = 'issued' AND c.in_catalogue_on_issue)",
            "issued_industry_3_6": "count(*) FILTER (WHERE ce.verb = 'issued' "
            "AND c.occupation_code = ANY(CAST(:codes36 AS varchar[])))",
        },
        filters={
            "district": "b.district",
            "org": "c.university_org",
            "occupation_code": "c.occupation_code",
            "level": "c.level",
        },
        period="ce.on_date",
        org="c.university_org",
        shares={
            "share_level_3_plus": ("issued_level_3_plus", "issued"),
            "share_in_catalogue": ("issued_in_catalogue", "issued"),
            "share_industry_3_6": ("issued_industry_3_6", "issued"),
        },
    ),
    "graduates": View(
        # One row per university and graduating year; certified = distinct graduating-year students
        # holding a certificate (not revoked) from their university's employer body in that year.
        base=f"""(SELECT g.university_org, g.graduation_year, g.district, g.graduating_students,
              count(DISTINCT l.learner_id) AS certified,
              count(DISTINCT l.learner_id) FILTER (WHERE l.best_level <= 3) AS certified_level_3_plus
            FROM {S}.graduates g LEFT JOIN (
              SELECT c.university_org, {_ACADEMIC_YEAR} AS graduation_year, c.learner_id, min(c.level) AS best_level
              FROM {S}.certificates c JOIN {S}.bodies b ON b.body_id = c.body_id AND b.kind = 'employer'
              WHERE c.status <> 'revoked' GROUP BY 1, 2, 3
            ) l ON l.university_org = g.university_org AND l.graduation_year = g.graduation_year
            GROUP BY g.university_org, g.graduation_year, g.district, g.graduating_students) gr""",
        dims={
            "year": "gr.graduation_year",
            "university": "gr.university_org",
            "district": "coalesce(gr.district, 'unknown')",
        },
        measures={
            "graduating_students": "coalesce(sum(gr.graduating_students), 0)",
            "certified": "coalesce(sum(gr.certified), 0)",
            "certified_level_3_plus": "coalesce(sum(gr.certified_level_3_plus), 0)",
        },
        filters={"district": "gr.district", "org": "gr.university_org"},
        period="make_date(gr.graduation_year, 8, 31)",
        org="gr.university_org",
        shares={
            "share_certified": ("certified", "graduating_students"),
            "share_level_3_plus": ("certified_level_3_plus", "graduating_students"),
        },
    ),
    "catalogue_coverage": View(
        # An entry is supplied when its occupation got a certificate while the edition was in force.
        base=f"""(SELECT ed.edition_id, ed.title, ed.effective_from, en.occupation_code,
              (SELECT count(*) FROM {S}.certificates c WHERE c.occupation_code = en.occupation_code
                 AND c.issued_on >= ed.effective_from
                 AND (ed.effective_to IS NULL OR c.issued_on <= ed.effective_to)) AS certificates
            FROM {S}.editions ed JOIN {S}.edition_entries en ON en.edition_id = ed.edition_id
            WHERE ed.status <> 'draft' AND ed.effective_from IS NOT NULL) cv""",
        dims={"edition": "cv.edition_id", "edition_title": "cv.title", "occupation": "cv.occupation_code"},
        measures={
            "entries": "count(*)",
            "entries_with_certificates": "count(*) FILTER (WHERE cv.certificates > 0)",
            "entries_without_certificates": "count(*) FILTER (WHERE cv.certificates = 0)",
            "certificates": "coalesce(sum(cv.certificates), 0)",
        },
        filters={"edition_id": "cv.edition_id", "occupation_code": "cv.occupation_code"},
        period="cv.effective_from",
        org=None,  # the catalogue is public: every reader sees all of it
        shares={"share_supplied": ("entries_with_certificates", "entries")},
    ),
    "conversions": View(
        base=f"{S}.conversions cv",
        dims={
            "month": "to_char(cv.posted_on, 'YYYY-MM')",
            "year": "extract(year FROM cv.posted_on)::int",
            "university": "coalesce(cv.university_org, '-')",
            "occupation": "coalesce(cv.occupation_code, '-')",
            "level": "cv.level",
        },
        measures={
            "conversions": "count(*)",
            "reversed": "count(*) FILTER (WHERE cv.reversed_on IS NOT NULL)",
            "credits_converted": "coalesce(sum(cv.credits), 0)",
            "credits_reversed": "coalesce(sum(cv.credits) FILTER (WHERE cv.reversed_on IS NOT NULL), 0)",
            "credits_net": "coalesce(sum(cv.credits) FILTER (WHERE cv.reversed_on IS NULL), 0)",
        },
        filters={"org": "cv.university_org", "occupation_code": "cv.occupation_code", "level": "cv.level"},
        period="cv.posted_on",
        org="cv.university_org",
        places={"credits_converted": 1, "credits_reversed": 1, "credits_net": 1},
    ),
    "points": View(
        base=f"{S}.evaluations ev",
        dims={
            "month": "to_char(ev.evaluated_on, 'YYYY-MM')",
            "year": "extract(year FROM ev.evaluated_on)::int",
            "scheme": "ev.scheme",
        },
        measures={
            "evaluations": "count(*)",
            "passed": "count(*) FILTER (WHERE ev.passes)",
            # Passed, and would not have without the skill-certificate item.
            "passed_because_of_skill": "count(*) FILTER (WHERE ev.passes AND ev.skill_points > 0 "
            "AND ev.total - ev.skill_points < ev.threshold)",
            "passed_skill_item_unknown": "count(*) FILTER (WHERE ev.passes "
            "AND (ev.skill_points IS NULL OR ev.threshold IS NULL))",
        },
        filters={},
        period="ev.evaluated_on",
        # A university sees evaluations of learners holding one of its certificates.
        org=f"(SELECT min(c.university_org) FROM {S}.certificates c WHERE c.learner_id = ev.learner_id "
        "AND c.university_org = :principal_org)",
        shares={"share_passed": ("passed", "evaluations")},
    ),
    "subsidies": View(
        base=f"{S}.subsidy_claims sc LEFT JOIN {S}.certificates c ON c.number = sc.certificate_number "
        f"LEFT JOIN {S}.bodies b ON b.body_id = c.body_id",
        dims={
            "month": "to_char(sc.claimed_on, 'YYYY-MM')",
            "year": "extract(year FROM sc.claimed_on)::int",
            "district": "coalesce(b.district, 'unknown')",
            "university": "coalesce(c.university_org, '-')",
            "occupation": "coalesce(sc.occupation_code, '-')",
            "level": "sc.level",
            "in_catalogue": "sc.in_catalogue",
            "status": "sc.status",
        },
        measures={
            "claimed": "count(*)",
            "ineligible": "count(*) FILTER (WHERE sc.status = 'ineligible')",
            "approved": "count(*) FILTER (WHERE sc.status IN ('approved', 'paid'))",
            "rejected": "count(*) FILTER (WHERE sc.status = 'rejected')",
            "paid": "count(*) FILTER (WHERE sc.status = 'paid')",
            "amount_claimed": "coalesce(sum(sc.amount) FILTER (WHERE sc.status <> 'ineligible'), 0)",
            "amount_approved": "coalesce(sum(sc.amount) FILTER (WHERE sc.status IN ('approved', 'paid')), 0)",
            "amount_paid": "coalesce(sum(sc.amount) FILTER (WHERE sc.status = 'paid'), 0)",
        },
        filters={
            "district": "b.district",
            "org": "c.university_org",
            "occupation_code": "sc.occupation_code",
            "level": "sc.level",
        },
        period="sc.claimed_on",
        org="c.university_org",
        places={"amount_claimed": 2, "amount_approved": 2, "amount_paid": 2},
    ),
}


@dataclass
class Query:
    view: str
    group_by: list[str]
    filters: dict[str, Any]
    date_from: date | None = None
    date_to: date | None = None


@dataclass
class Answer:
    view: str
    group_by: list[str]
    columns: list[str]
    rows: list[dict[str, Any]]
    totals: dict[str, Any]


def view_of(name: str) -> View:
    if name not in VIEWS:
        raise NotFound(f"no statistics view {name!r}; views: {', '.join(VIEWS)}")
    return VIEWS[name]


def check(query: Query) -> View:
    view = view_of(query.view)
    bad = [g for g in query.group_by if g not in view.dims]
    if bad:
        raise InvalidInput(
            "Unknown group_by dimension",
            errors=[field_error(["query", "group_by"], f"{b!r} is not one of {sorted(view.dims)}") for b in bad],
        )
    unknown = [f for f, v in query.filters.items() if v is not None and f not in view.filters]
    if unknown:
        raise InvalidInput(
            "Filter not available on this view",
            errors=[field_error(["query", f], f"not a filter of view {query.view!r}") for f in unknown],
        )
    return view


def _sql(view: View, query: Query, principal: Principal) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"codes36": codes_3_6(), "principal_org": principal.org}
    where = ["TRUE"]
    for name, value in query.filters.items():
        if value is not None:
            where.append(f"{view.filters[name]} = :f_{name}")
            params[f"f_{name}"] = value
    if view.period and query.date_from:
        where.append(f"{view.period} >= :date_from")
        params["date_from"] = query.date_from
    if view.period and query.date_to:
        where.append(f"{view.period} <= :date_to")
        params["date_to"] = query.date_to
    if principal.is_university and view.org is not None:  # a university sees its own rows only
        where.append(f"{view.org} = :principal_org")
    dims = [f"{view.dims[g]} AS {g}" for g in query.group_by]
    measures = [f"{expr} AS {name}" for name, expr in view.measures.items()]
    sql = f"SELECT {', '.join([*dims, *measures])} FROM {view.base} WHERE {' AND '.join(where)}"
    if query.group_by:
        order = ", ".join(str(i + 1) for i in range(len(query.group_by)))
        sql += f" GROUP BY {order} ORDER BY {order}"
    return sql, params


def _typed(view: View, row: dict[str, Any]) -> dict[str, Any]:
    """One JSON type per column: amounts are Decimals at the view's places (a decimal string in JSON,
    ``0`` included); sums of counts come back as scale-0 numerics and become ints."""
    out = {}
    for name, value in row.items():
        if name in view.places:
            value = Decimal(value or 0).quantize(Decimal(1).scaleb(-view.places[name]))
        elif isinstance(value, Decimal) and value.as_tuple().exponent == 0:
            value = int(value)
        out[name] = value
    return out


def _with_shares(view: View, row: dict[str, Any]) -> dict[str, Any]:
    for name, (num, den) in view.shares.items():
        d = row.get(den) or 0
        row[name] = round(float(row[num]) / float(d), 4) if d else None
    return row


def _growth(view: View, group_by: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """``<measure>_yoy``: the change against the same row one year earlier, where there is one."""
    period = "year" if "year" in group_by else "month" if "month" in group_by else None
    if period is None:
        return []
    others = [g for g in group_by if g != period]

    def earlier(value: Any) -> Any:
        if period == "year":
            return int(value) - 1
        y, m = str(value).split("-")
        return f"{int(y) - 1}-{m}"

    index = {(r[period], *(r[o] for o in others)): r for r in rows}
    for r in rows:
        before = index.get((earlier(r[period]), *(r[o] for o in others)))
        for m in view.measures:
            prev = float(before[m]) if before and before[m] is not None else 0.0
            r[f"{m}_yoy"] = round((float(r[m]) - prev) / prev, 4) if prev else None
    return [f"{m}_yoy" for m in view.measures]


async def run_view(session: AsyncSession, *, principal: Principal, query: Query, max_rows: int) -> Answer:
    """A statistics view, grouped and filtered as asked; a university's answer holds its own rows only."""
    view = check(query)
    sql, params = _sql(view, query, principal)
    result = await session.execute(text(sql + f" LIMIT {max_rows + 1}"), params)
    rows = [_with_shares(view, _typed(view, dict(r._mapping))) for r in result]
    if len(rows) > max_rows:
        raise InvalidInput(
            "The answer has too many rows",
            errors=[field_error(["query", "group_by"], f"more than {max_rows} rows; group by fewer dimensions")],
        )
    totals_sql, totals_params = _sql(
        view, Query(query.view, [], query.filters, query.date_from, query.date_to), principal
    )
    total = (await session.execute(text(totals_sql), totals_params)).one()
    totals = _with_shares(view, _typed(view, dict(total._mapping)))
    growth = _growth(view, query.group_by, rows)
    columns = [*query.group_by, *view.measures, *view.shares, *growth]
    return Answer(view=query.view, group_by=query.group_by, columns=columns, rows=rows, totals=totals)
