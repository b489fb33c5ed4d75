"""Uploads the way university staff have them: XLSX, GB18030 CSV with Chinese headers, dry runs,
the row report as a file, and a body's template."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import zipfile
from datetime import date
from typing import Any

import httpx
from openpyxl import Workbook, load_workbook
from sqlalchemy import text

from tests.assessment.asm_support import make_body, make_id_number, record, unique, upload

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EN = (
    "external_id",
    "id_number",
    "name",
    "student_no",
    "school_org",
    "graduation_year",
    "major",
    "occupation_code",
    "work_type",
    "level",
    "exam_date",
    "theory_score",
    "practical_score",
    "review_score",
)
ZH = (
    "外部编号",
    "身份证号",
    "姓名",
    "学号",
    "学校",
    "毕业年份",
    "专业",
    "职业编码",
    "工种",
    "等级",
    "考试日期",
    "理论成绩",
    "实操成绩",
    "综合评审成绩",
)


def mixed_records(count: int) -> list[dict[str, Any]]:
    """Passes, fails, decimal scores, level-2 rows with and without a review, bad codes, a repeat."""
    out = []
    for n in range(count):
        level = 2 if n % 17 == 0 else 4
        rec = record(
            f"m{n}",
            id_number=make_id_number(n, birth=f"2004{1 + n // 1000 % 12:02d}{1 + n % 28:02d}"),
            name="张三李四王五"[n % 6] + "同学",
            code="2-02-38-01" if level == 2 else ("6-25-0205" if n % 53 == 0 else "6-25-02-05"),
            level=level,
            exam_date=date(2026, 9 + n % 2, 1 + n % 28),
            theory=50 if n % 10 == 0 else 60 + n % 40 + (0.5 if n % 3 == 0 else 0),
            practical=75,
            review=80 if level == 2 and n % 34 == 0 else None,
        )
        out.append(rec)
    out[5]["external_id"] = out[4]["external_id"]  # repeated_in_batch
    return out


def _cells(rec: dict[str, Any]) -> list[Any]:
    c = rec["candidate"]
    return [
        rec["external_id"],
        c["id_number"],
        c["name"],
        c["student_no"],
        c["school_org"],
        c["graduation_year"],
        c["major"],
        rec["occupation_code"],
        rec.get("work_type"),
        rec["level"],
        rec["exam_date"],
        rec["theory_score"],
        rec["practical_score"],
        rec.get("review_score"),
    ]


def as_csv(records: list[dict[str, Any]], *, chinese: bool = False) -> bytes:
    """As Excel on Chinese Windows saves 「CSV (逗号分隔)」 when ``chinese``: GB18030, CRLF, 2026/11/10."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ZH if chinese else EN)
    for rec in records:
        cells = ["" if v is None else v for v in _cells(rec)]
        if chinese:
            cells[10] = cells[10].replace("-", "/")
        writer.writerow(cells)
    return out.getvalue().encode("gb18030" if chinese else "utf-8")


def as_xlsx(records: list[dict[str, Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(ZH))
    for rec in records:
        cells = _cells(rec)
        cells[10] = date.fromisoformat(cells[10])  # an Excel date
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def upload_file(
    client: httpx.AsyncClient,
    tokens: Any,
    body_id: str,
    content: bytes,
    content_type: str,
    *,
    mode: str = "partial",
    dry_run: bool = False,
    accept: str | None = None,
    key: str | None = None,
    org: str = "univ-a",
) -> httpx.Response:
    headers = {**tokens.headers("university", org=org), "Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    if key:
        headers["Idempotency-Key"] = key
    query = f"body_id={body_id}&mode={mode}" + ("&dry_run=true" if dry_run else "")
    return await client.post(f"/v1/batches?{query}", headers=headers, content=content)


def outcome(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows without ids: status, error types and locations, the certificate's year+level+serial."""
    return [
        (
            r["status"],
            [(e["type"], e["loc"]) for e in r["errors"] or []],
            (r["certificate_number"] or "")[13:],
        )
        for r in answer["rows"]
    ]


async def counts(app: Any) -> dict[str, Any]:
    async with app.state.sessionmaker() as session:
        out: dict[str, Any] = {}
        for table in ("records", "certificates", "candidates", "batches", "events", "idempotency_keys"):
            exists = (await session.execute(text("SELECT to_regclass(:t)"), {"t": f"assessment.{table}"})).scalar()
            if exists:
                out[table] = (await session.execute(text(f"SELECT count(*) FROM assessment.{table}"))).scalar()
        out["serials"] = (
            await session.execute(text("SELECT coalesce(sum(next_serial), 0) FROM assessment.certificate_serials"))
        ).scalar()
    return out


def read_sheet(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_the_same_1000_records_in_every_format_give_identical_results(client: Any, tokens: Any) -> None:
    records = mixed_records(1000)
    answers = {}
    for fmt, content, content_type in (
        ("json", None, None),
        ("csv", as_csv(records), "text/csv; charset=utf-8"),
        ("gb18030", as_csv(records, chinese=True), "text/csv"),
        ("xlsx", as_xlsx(records), XLSX),
    ):
        body = await make_body(client, tokens)
        if content is None:
            r = await upload(client, tokens, body["id"], records)
        else:
            assert content_type is not None
            r = await upload_file(client, tokens, body["id"], content, content_type)
        assert r.status_code == 201, (fmt, r.text[:2000])
        answers[fmt] = r.json()
    first = answers["json"]
    assert (first["accepted"], first["rejected"]) == (1000 - first["rejected"], first["rejected"])
    statuses = {r["status"] for r in first["rows"]}
    assert statuses == {"accepted", "rejected"}
    types = {e["type"] for r in first["rows"] for e in r["errors"] or []}
    assert {"review_score_required", "string_pattern_mismatch", "repeated_in_batch"} <= types
    assert sum(1 for r in first["rows"] if r["certificate_number"]) > 500
    for fmt in ("csv", "gb18030", "xlsx"):
        assert outcome(answers[fmt]) == outcome(first), fmt
        assert (answers[fmt]["accepted"], answers[fmt]["rejected"]) == (first["accepted"], first["rejected"])
    # The stored rows are the same too (the report reads them back from the records).
    reports = {}
    for fmt, answer in answers.items():
        r = await client.get(
            f"/v1/batches/{answer['batch_id']}/report?format=csv", headers=tokens.headers("university", org="univ-a")
        )
        assert r.status_code == 200, r.text
        reports[fmt] = [line[4:] for line in csv.reader(io.StringIO(r.content.decode("utf-8-sig")))]
    assert reports["csv"] == reports["json"] == reports["gb18030"] == reports["xlsx"]


async def test_dry_run_checks_everything_writes_nothing_and_takes_no_number(client: Any, tokens: Any, app: Any) -> None:
    body = await make_body(client, tokens)
    await upload(client, tokens, body["id"], [record("seen-before")])
    rows = [
        record("seen-before"),
        record("p1"),
        record("p2", theory=10),
        record("p3", code="4-04-05-05"),  # outside the filing
        record("p4", code="9-99-99-99"),  # not in the classification
        record("p5", school="univ-b"),  # not own student
        record("p6", level=2, code="2-02-38-01"),  # review missing
        record("p7", exam_date=date(2026, 1, 1), graduation_year=2028),  # not graduating year
    ]
    before = await counts(app)
    dry = await upload_file(
        client, tokens, body["id"], as_csv(rows), "text/csv", dry_run=True, key="dry-1", mode="partial"
    )
    assert dry.status_code == 200, dry.text
    assert await counts(app) == before
    answer = dry.json()
    assert answer["dry_run"] is True
    assert answer["batch_id"] is None
    assert answer["outcome"] == "would_store"
    assert (answer["accepted"], answer["rejected"], answer["duplicates"]) == (2, 5, 1)
    assert [r["status"] for r in answer["rows"]] == ["duplicate", "accepted", "accepted"] + ["rejected"] * 5
    assert [[e["type"] for e in r["errors"] or []] for r in answer["rows"]][3:] == [
        ["outside_filing_scope"],
        ["unknown_occupation", "outside_filing_scope"],
        ["not_own_student"],
        ["review_score_required"],
        ["not_graduating_year"],
    ]
    assert all(r["certificate_number"] is None and r["record_id"] is None for r in answer["rows"][1:])
    assert answer["rows"][0]["certificate_number"].endswith("000001")  # the duplicate's own number

    dry_file = await upload_file(
        client, tokens, body["id"], as_csv(rows), "text/csv", dry_run=True, accept="text/csv", mode="partial"
    )
    assert await counts(app) == before

    # The real upload (same Idempotency-Key: the dry run did not claim it) gives the same report, and
    # its first new certificate is serial 2: the dry run took no number.
    real = await upload_file(client, tokens, body["id"], as_csv(rows), "text/csv", key="dry-1", mode="partial")
    assert real.status_code == 201, real.text
    stored = real.json()
    assert [(r["index"], r["status"], r["errors"]) for r in stored["rows"]] == [
        (r["index"], r["status"], r["errors"]) for r in answer["rows"]
    ]
    assert stored["rows"][1]["certificate_number"].endswith("000002")
    assert stored["rows"][2]["certificate_number"] is None  # a fail
    # The dry run's report file and the stored batch's are the same rows, numbers apart (the
    # duplicate row shows the stored record there, the upload's cells in the dry run).
    real_file = await client.get(
        f"/v1/batches/{stored['batch_id']}/report?format=csv", headers=tokens.headers("university", org="univ-a")
    )

    def table(content: bytes) -> list[list[str]]:
        return [line[:2] + line[3:] for line in csv.reader(io.StringIO(content.decode("utf-8-sig")))]

    assert table(real_file.content)[3:] == table(dry_file.content)[3:]
    assert [line[1] for line in table(real_file.content)[2:5]] == ["重复 duplicate", "接收 accepted", "接收 accepted"]
    after = await counts(app)
    assert after["records"] == before["records"] + 2
    assert after["certificates"] == before["certificates"] + 1


async def test_dry_run_of_all_or_nothing_says_it_would_reject(client: Any, tokens: Any, app: Any) -> None:
    body = await make_body(client, tokens)
    rows = [record("a1"), record("a2", level=7)]
    before = await counts(app)
    dry = await upload(client, tokens, body["id"], rows, mode="all_or_nothing")
    assert dry.status_code == 422  # the real upload refuses
    r = await client.post(
        "/v1/batches?dry_run=true",
        headers=tokens.headers("university", org="univ-a"),
        json={"body_id": body["id"], "mode": "all_or_nothing", "records": rows},
    )
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "would_reject"
    assert [e["loc"] for e in r.json()["rows"][1]["errors"]] == [[1, "level"]]
    assert await counts(app) == before
    # Another university's body stays hidden from a dry run too.
    other = await client.post(
        "/v1/batches?dry_run=true",
        headers=tokens.headers("university", org="univ-b"),
        json={"body_id": body["id"], "mode": "partial", "records": rows},
    )
    assert other.status_code == 404


async def test_dry_run_report_as_a_file_by_accept(client: Any, tokens: Any, app: Any) -> None:
    body = await make_body(client, tokens)
    rows = [record("f1"), record("f2", level=2, code="2-02-38-01")]
    before = await counts(app)
    r = await upload_file(client, tokens, body["id"], as_xlsx(rows), XLSX, dry_run=True, accept=XLSX)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    table = read_sheet(r.content)
    assert table[0][:4] == ["序号", "状态", "证书编号", "错误"]
    assert table[1][:4] == ["index", "status", "certificate_number", "errors"]
    assert table[2][:2] == [0, "接收 accepted"]
    assert table[3][:2] == [1, "拒绝 rejected"]
    assert table[3][3].startswith("综合评审成绩：二级、一级须有综合评审成绩（review_score:")
    assert table[3][4:6] == ["f2", rows[1]["candidate"]["id_number"]]
    assert await counts(app) == before
    r = await upload_file(client, tokens, body["id"], as_csv(rows), "text/csv", dry_run=True, accept="text/csv")
    assert r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[3][1] == "拒绝 rejected"


async def test_report_file_fix_and_reupload(client: Any, tokens: Any, app: Any) -> None:
    body = await make_body(client, tokens)
    rows = [record("r1"), record("r2", level=2, code="2-02-38-01"), record("r3", theory=101), record("r4", theory=20)]
    answer = (await upload(client, tokens, body["id"], rows)).json()
    assert [r["status"] for r in answer["rows"]] == ["accepted", "rejected", "rejected", "accepted"]
    # The stored answer keeps the rejected rows' input sealed, never in the API's answers.
    assert not any("input" in r for r in answer["rows"])
    got = await client.get(f"/v1/batches/{answer['batch_id']}", headers=tokens.headers("university", org="univ-a"))
    assert got.json() == answer
    async with app.state.sessionmaker() as session:
        stored = (
            await session.execute(
                text("SELECT rows::text FROM assessment.batches WHERE id = :i"), {"i": answer["batch_id"]}
            )
        ).scalar_one()
    assert stored.count('"input": "v1.') == 2
    assert rows[1]["candidate"]["id_number"] not in stored
    # outside the sealed values: their base64 can spell "Sr2" by chance (seen once in a make test)
    assert "Sr2" not in re.sub(r'"v1\.[^"]*"', '""', stored)
    r = await client.get(f"/v1/batches/{answer['batch_id']}/report", headers=tokens.headers("university", org="univ-a"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX
    assert "attachment" in r.headers["content-disposition"]
    table = read_sheet(r.content)
    data = table[2:]
    assert [row[1] for row in data] == ["接收 accepted", "拒绝 rejected", "拒绝 rejected", "接收 accepted"]
    assert data[0][2] == answer["rows"][0]["certificate_number"]
    assert data[3][2] is None  # a fail: accepted, no certificate
    assert data[2][3].startswith("理论成绩：数值过大（theory_score:")
    assert data[1][5] == rows[1]["candidate"]["id_number"]  # the owner sees what it uploaded
    assert data[2][4:] == [
        "r3",
        rows[2]["candidate"]["id_number"],
        "张三",
        "Sr3",
        "univ-a",
        "2027",
        "机械电子工程",
        "6-25-02-05",
        None,
        "4",
        "2026-11-10",
        "101",
        "75",
        None,
    ]
    # Staff fix the rejected rows in the report and upload the whole file again.
    book = load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    sheet.cell(row=4, column=4 + EN.index("review_score") + 1, value=70)
    sheet.cell(row=5, column=4 + EN.index("theory_score") + 1, value=99)
    out = io.BytesIO()
    book.save(out)
    again = (await upload_file(client, tokens, body["id"], out.getvalue(), XLSX)).json()
    assert [r["status"] for r in again["rows"]] == ["duplicate", "accepted", "accepted", "duplicate"]
    assert again["rows"][0]["certificate_number"] == answer["rows"][0]["certificate_number"]
    # CSV report; another university cannot read it.
    r = await client.get(
        f"/v1/batches/{answer['batch_id']}/report?format=csv", headers=tokens.headers("university", org="univ-a")
    )
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[0][4:] == list(ZH) and lines[1][4:] == list(EN)
    r = await client.get(
        f"/v1/batches/{answer['batch_id']}/report?format=csv", headers=tokens.headers("university", org="univ-b")
    )
    assert r.status_code == 404


async def test_template_has_both_headers_validation_and_a_guide(client: Any, tokens: Any) -> None:
    body = await make_body(
        client,
        tokens,
        scope=[
            {"occupation_code": "6-25-02-05", "levels": [4, 5]},
            {"occupation_code": "4-10-01-05", "work_type": "护理", "levels": [3]},
        ],
    )
    r = await client.get(
        f"/v1/bodies/{body['id']}/batch-template?format=xlsx", headers=tokens.headers("university", org="univ-a")
    )
    assert r.status_code == 200, r.text
    book = load_workbook(io.BytesIO(r.content))
    sheet, guide = book.worksheets[0], book.worksheets[1]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[:2] == [list(ZH), list(EN)]
    validations = {str(dv.sqref): dv for dv in sheet.data_validations.dataValidation}
    assert validations["J3:J10002"].type == "list"
    assert validations["J3:J10002"].formula1 == '"3,4,5"'
    code_list = validations["H3:H10002"]
    assert code_list.type == "list"
    codes_range = code_list.formula1.split("!")[1].replace("$", "")
    assert [c.value for row in guide[codes_range] for c in row] == ["6-25-02-05", "4-10-01-05"]
    for col in ("L", "M", "N"):
        dv = validations[f"{col}3:{col}10002"]
        assert (dv.type, dv.formula1, dv.formula2) == ("decimal", "0", "100")
    assert validations["K3:K10002"].type == "date"
    guide_rows = [list(row) for row in guide.iter_rows(values_only=True)]
    assert [row[1] for row in guide_rows[1:15]] == list(EN)
    assert all(row[3] for row in guide_rows[1:15])
    # The filled template uploads as it is (the second header row is skipped).
    rec = record("t1")
    sheet.append([*_cells(rec)[:10], date(2026, 11, 10), *_cells(rec)[11:]])
    out = io.BytesIO()
    book.save(out)
    answer = (await upload_file(client, tokens, body["id"], out.getvalue(), XLSX)).json()
    assert [r["status"] for r in answer["rows"]] == ["accepted"]
    # CSV: the two header rows, UTF-8 with BOM.
    r = await client.get(
        f"/v1/bodies/{body['id']}/batch-template?format=csv", headers=tokens.headers("university", org="univ-a")
    )
    assert r.content.startswith("\ufeff".encode())
    assert list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")))) == [list(ZH), list(EN)]
    r = await client.get(f"/v1/bodies/{body['id']}/batch-template", headers=tokens.headers("university", org="univ-b"))
    assert r.status_code == 404
    r = await client.get(
        f"/v1/bodies/{body['id']}/batch-template?format=pdf", headers=tokens.headers("university", org="univ-a")
    )
    assert r.status_code == 422


async def test_charsets_and_unreadable_csv(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    rows = [record("c1", name="欧阳娜娜")]
    content = as_csv(rows, chinese=True)
    r = await upload_file(client, tokens, body["id"], content, "text/csv; charset=GBK")
    assert r.status_code == 201, r.text
    r = await upload_file(client, tokens, body["id"], b"\xef\xbb\xbf" + as_csv([record("c2")]), "text/csv")
    assert r.status_code == 201, r.text
    r = await upload_file(client, tokens, body["id"], content, "text/csv; charset=utf-8")
    assert r.status_code == 422
    assert r.json()["detail"] == "CSV is not utf-8"
    r = await upload_file(client, tokens, body["id"], content, "text/csv; charset=latin-1")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["header", "Content-Type"]
    r = await upload_file(client, tokens, body["id"], b"external_id\x80\xff\n", "text/csv")
    assert r.status_code == 422
    assert r.json()["detail"] == "CSV must be UTF-8 or GB18030"
    r = await upload_file(client, tokens, body["id"], "外部编号,姓名\nx,y\n".encode("gb18030"), "text/csv")
    assert r.status_code == 422
    assert "missing id_number (身份证号)" in [e["msg"] for e in r.json()["errors"]]


def _xlsx_with(parts: dict[str, bytes]) -> bytes:
    base = io.BytesIO(as_xlsx([record("z1")]))
    out = io.BytesIO()
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, parts.get(info.filename, src.read(info.filename)))
        for name, content in parts.items():
            if name not in src.namelist():
                dst.writestr(name, content)
    return out.getvalue()


async def test_hostile_workbooks_are_refused(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    # A zip bomb: 70 MB of sheet XML that packs to a few hundred KB.
    bomb = _xlsx_with({"xl/worksheets/sheet1.xml": b"<worksheet>" + b" " * 70_000_000 + b"</worksheet>"})
    assert len(bomb) < 1_000_000
    r = await upload_file(client, tokens, body["id"], bomb, XLSX)
    assert r.status_code == 413
    assert "unpacks to" in r.json()["detail"]
    # Under the unpacked limit, but more cells than any results sheet: 413 from the reader.
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    many = f'<worksheet xmlns="{main}"><sheetData><row r="1">{"<c/>" * 2_000_001}</row></sheetData></worksheet>'
    r = await upload_file(client, tokens, body["id"], _xlsx_with({"xl/worksheets/sheet1.xml": many.encode()}), XLSX)
    assert r.status_code == 413
    assert "cells" in r.json()["detail"] or "columns" in r.json()["detail"]
    laughs = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><worksheet>&lol;</worksheet>'
    r = await upload_file(client, tokens, body["id"], _xlsx_with({"xl/worksheets/sheet1.xml": laughs}), XLSX)
    assert r.status_code == 422
    assert "DTD" in r.json()["detail"]
    r = await upload_file(client, tokens, body["id"], b"PK\x03\x04 not really", XLSX)
    assert r.status_code == 422
    r = await upload_file(client, tokens, body["id"], b"<html></html>", XLSX)
    assert r.status_code == 422
    # More rows than a batch holds: refused while reading, before any check.
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(EN))
    row = _cells(record("many"))
    for _ in range(10_001):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    r = await upload_file(client, tokens, body["id"], out.getvalue(), XLSX)
    assert r.status_code == 413
    assert "10000" in r.json()["detail"]


async def test_excel_numbers_and_level_words_read_as_staff_mean_them(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    rec = record("x1", id_number=make_id_number(unique()))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(ZH))
    cells = _cells(rec)
    cells[5] = 2027.0  # a float year, as a formula leaves it
    cells[9] = "四级"
    cells[10] = 46336  # 2026-11-10 as an Excel serial without a date format
    cells[11] = 80.5
    sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    r = await upload_file(client, tokens, body["id"], out.getvalue(), XLSX)
    assert r.status_code == 201, r.text
    assert r.json()["rows"][0]["status"] == "accepted", r.json()
    listed = await client.get(
        f"/v1/records?batch_id={r.json()['batch_id']}", headers=tokens.headers("university", org="univ-a")
    )
    item = listed.json()["items"][0]
    assert (item["level"], item["exam_date"], item["theory_score"]) == (4, "2026-11-10", "80.5")


async def test_unknown_columns_are_ignored_and_an_idempotent_csv_replays(client: Any, tokens: Any) -> None:
    body = await make_body(client, tokens)
    header = ",".join([*ZH, "备注"])
    line = ",".join(str(v if v is not None else "") for v in [*_cells(record("u1")), "补考"])
    content = f"{header}\r\n{line}\r\n,,,,,,,,,,,,,,\r\n".encode("gb18030")
    first = await upload_file(client, tokens, body["id"], content, "text/csv", key=str(uuid.uuid4()))
    assert first.status_code == 201, first.text
    assert len(first.json()["rows"]) == 1  # the blank line Excel leaves is not a record
    key = str(uuid.uuid4())
    a = await upload_file(client, tokens, body["id"], content, "text/csv", key=key)
    b = await upload_file(client, tokens, body["id"], content, "text/csv", key=key)
    assert a.json() == b.json()
    assert a.json()["rows"][0]["status"] == "duplicate"


async def test_cli_upload_writes_the_report_beside_the_file(client: Any, tokens: Any, tmp_path: Any) -> None:
    from skillpass.upload import upload_file

    body = await make_body(client, tokens)
    path = tmp_path / "成绩.xlsx"
    path.write_bytes(as_xlsx([record("k1"), record("k2", level=2, code="2-02-38-01")]))
    auth = tokens.headers("university", org="univ-a")
    stages: list[str] = []

    dry = await upload_file(
        client, path, body_id=body["id"], dry_run=True, headers=auth, on_progress=lambda s, d, t: stages.append(s)
    )
    assert dry.report == tmp_path / "成绩.dry-run-report.xlsx"
    assert (dry.answer["accepted"], dry.answer["rejected"]) == (1, 1)
    assert [row[1] for row in read_sheet(dry.report.read_bytes())[2:]] == ["接收 accepted", "拒绝 rejected"]
    assert stages[0] == "upload" and stages[-2:] == ["check", "report"]

    refused = await upload_file(client, path, body_id=body["id"], mode="all_or_nothing", headers=auth)
    assert refused.status_code == 422
    assert refused.report == tmp_path / "成绩.dry-run-report.xlsx"

    done = await upload_file(client, path, body_id=body["id"], headers=auth)
    assert done.status_code == 201
    assert done.report == tmp_path / "成绩.report.xlsx"
    table = read_sheet(done.report.read_bytes())
    assert table[2][2] == done.answer["rows"][0]["certificate_number"]
    again = await upload_file(client, path, body_id=body["id"], headers=auth)  # the same key: a replay
    assert again.answer == done.answer


def test_cli_upload_needs_a_token_and_a_known_file_type(tmp_path: Any, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from skillpass.cli import app as cli

    monkeypatch.delenv("SKILLPASS_TOKEN", raising=False)
    path = tmp_path / "results.csv"
    path.write_text("external_id\n")
    r = CliRunner().invoke(cli, ["upload", str(path), "--body", str(uuid.uuid4())])
    assert r.exit_code == 2 and "token" in r.output
    other = tmp_path / "results.pdf"
    other.write_text("x")
    r = CliRunner().invoke(cli, ["upload", str(other), "--body", str(uuid.uuid4()), "--token", "t"])
    assert r.exit_code == 2 and ".csv or .xlsx" in r.output


def test_headers_and_dates_as_offices_write_them() -> None:
    from services.assessment.uploads import _iso_date, column_of

    assert [column_of(h) for h in ("身份证号", " 身份证号码 ", "\ufeffexternal_id", "Exam_Date", "备注", None)] == [
        "id_number",
        "id_number",
        "external_id",
        "exam_date",
        None,
        None,
    ]
    assert [_iso_date(v) for v in ("2026/11/10", "2026/1/5", "2026年11月10日", "20261110", "2026-11-10", "1110")] == [
        "2026-11-10",
        "2026-01-05",
        "2026-11-10",
        "2026-11-10",
        "2026-11-10",
        "1110",
    ]


async def test_files_windows_labels_vaguely_are_read_by_their_bytes(client: Any, tokens: Any) -> None:
    """Windows browsers send .csv as application/vnd.ms-excel; tools send octet-stream."""
    body = await make_body(client, tokens)
    r = await upload_file(client, tokens, body["id"], as_csv([record("v1")], chinese=True), "application/vnd.ms-excel")
    assert r.status_code == 201, r.text
    r = await upload_file(client, tokens, body["id"], as_xlsx([record("v2")]), "application/octet-stream")
    assert r.status_code == 201, r.text
    assert [row["status"] for row in r.json()["rows"]] == ["accepted"]
    r = await client.post(
        "/v1/batches",
        headers={**tokens.headers("university", org="univ-a"), "Content-Type": "application/octet-stream"},
        content=json.dumps({"body_id": body["id"], "mode": "partial", "records": [record("v3")]}).encode(),
    )
    assert r.status_code == 201, r.text
    old_excel = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
    r = await upload_file(client, tokens, body["id"], old_excel, "application/vnd.ms-excel")
    assert r.status_code == 422
    assert "save it as .xlsx" in r.json()["errors"][0]["msg"]


def _both_readers(content: bytes) -> tuple[list[list[str]], list[list[str]]]:
    """The first sheet as the lean reader and as openpyxl read it, each cell as upload text."""
    from services.assessment.uploads import _cell_text
    from services.assessment.xlsx_reader import sheet_rows

    def text(rows: Any) -> list[list[str]]:
        out = []
        for row in rows:
            cells = [_cell_text(v, "exam_date" if i == 10 else None) for i, v in enumerate(row)]
            while cells and cells[-1] == "":
                cells.pop()
            if cells:
                out.append(cells)
        return out

    with zipfile.ZipFile(io.BytesIO(content)) as z:
        lean = text(sheet_rows(z))
    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    full = text(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    return lean, full


def test_the_lean_xlsx_reader_reads_what_openpyxl_reads() -> None:
    lean, full = _both_readers(as_xlsx(mixed_records(200)))
    assert lean == full
    assert lean[1][10] == "2026-09-01"  # a date cell: a serial to the lean reader, the same date
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strings = (
        f'<sst xmlns="{main}"><si><t>plain</t></si><si><r><t>rich </t></r><r><rPr><b/></rPr><t>text</t></r>'
        '<rPh sb="0" eb="1"><t>ふりがな</t></rPh></si><si><t xml:space="preserve"> 张三 </t></si></sst>'
    )
    sheet = (
        f'<worksheet xmlns="{main}"><sheetData>'
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="inlineStr"><is><t>inline</t></is></c></row>'
        '<row r="3"><c r="B3" t="b"><v>1</v></c><c r="C3" t="str"><v>formula text</v></c>'
        '<c r="D3" t="e"><v>#N/A</v></c><c r="E3"><v>4.5</v></c><c r="F3"><v>12</v></c>'
        '<c r="G3" t="s"><v>1</v></c><c r="H3" t="s"><v>2</v></c><c r="I3"><v>3.1010420040315E+17</v></c></row>'
        '<row r="4"><c><v>7</v></c><c t="s"><v>0</v></c></row>'
        "</sheetData></worksheet>"
    ).encode()
    with zipfile.ZipFile(io.BytesIO(as_xlsx([]))) as z:
        rels, types = z.read("xl/_rels/workbook.xml.rels").decode(), z.read("[Content_Types].xml").decode()
    rels = rels.replace(
        "</Relationships>",
        '<Relationship Id="rId9" Target="sharedStrings.xml" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/sharedStrings"/></Relationships>',
    )
    types = types.replace(
        "</Types>",
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sharedStrings+xml"/></Types>',
    )
    parts = {
        "xl/sharedStrings.xml": strings.encode(),
        "xl/worksheets/sheet1.xml": sheet,
        "xl/_rels/workbook.xml.rels": rels.encode(),
        "[Content_Types].xml": types.encode(),
    }
    lean, full = _both_readers(_xlsx_with(parts))
    assert lean == full
    assert lean[0] == ["plain", "", "inline"]
    assert lean[1][1:8] == ["True", "formula text", "#N/A", "4.5", "12", "rich text", " 张三 "]


async def test_a_workbook_the_lean_reader_leaves_alone_is_read_by_openpyxl(client: Any, tokens: Any) -> None:
    """A 1904-date workbook (old Mac Excel) goes to openpyxl, whose dates know the epoch."""
    body = await make_body(client, tokens)
    book = Workbook()
    book.epoch = __import__("openpyxl").utils.datetime.MAC_EPOCH
    sheet = book.active
    assert sheet is not None
    sheet.append(list(ZH))
    cells = _cells(record("mac1"))
    cells[10] = date(2026, 11, 10)
    sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    r = await upload_file(client, tokens, body["id"], out.getvalue(), XLSX)
    assert r.status_code == 201, r.text
    listed = await client.get(
        f"/v1/records?batch_id={r.json()['batch_id']}", headers=tokens.headers("university", org="univ-a")
    )
    assert listed.json()["items"][0]["exam_date"] == "2026-11-10"


def test_an_over_wide_row_is_refused_while_it_streams_in() -> None:
    """The column limit is checked as cells arrive, not once a row has ended: a row of millions of
    cells was parsed whole (seconds of CPU, every cell in memory) before it was refused. Here the
    row never ends (the part stops mid-row), so only a check made while streaming can answer 413;
    one made at the row's end meets the broken XML first."""
    import pytest

    from services.assessment.xlsx_reader import MAX_ROW_CELLS, sheet_rows
    from services.kit.problems import PayloadTooLarge

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    endless = f'<worksheet xmlns="{main}"><sheetData><row r="1">' + "<c/>" * (MAX_ROW_CELLS + 10)
    content = _xlsx_with({"xl/worksheets/sheet1.xml": endless.encode()})
    with zipfile.ZipFile(io.BytesIO(content)) as z, pytest.raises(PayloadTooLarge, match="columns"):
        list(sheet_rows(z))
