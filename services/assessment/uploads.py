"""Batch files the way university staff keep them: CSV in UTF-8 or GB18030, or XLSX (first sheet).

Every tabular upload becomes flat rows (column → text, as a CSV cell would read) and then the same
nested records a JSON upload carries, so one validation path serves every format. XLSX is opened
only after its zip directory has been checked: bounded decompressed size, part count, no DTDs, and
at most ``max_records`` data rows are read, and of each the cells under the header (at most
``MAX_COLUMNS``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from typing import Any
from xml.etree.ElementTree import ParseError

from services.kit.problems import InvalidInput, PayloadTooLarge, field_error

from .xlsx_reader import Unsupported, sheet_rows

CSV_TYPES = frozenset({"text/csv", "application/csv"})
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What browsers and office tools send for a file they cannot name: Windows labels .csv files
# application/vnd.ms-excel when Excel is installed. The content decides (a zip is XLSX).
SNIFFED_TYPES = frozenset({"application/vnd.ms-excel", "application/octet-stream"})
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (97–2003) and password-protected workbooks
# The upload's columns, in the order of the template and the report.
COLUMNS = (
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
OPTIONAL_COLUMNS = frozenset({"work_type", "review_score"})
CANDIDATE_COLUMNS = frozenset({"id_number", "name", "student_no", "school_org", "graduation_year", "major"})
# The header each column has in the template and the report (Chinese first, as staff read them).
LABELS_ZH = {
    "external_id": "外部编号",
    "id_number": "身份证号",
    "name": "姓名",
    "student_no": "学号",
    "school_org": "学校",
    "graduation_year": "毕业年份",
    "major": "专业",
    "occupation_code": "职业编码",
    "work_type": "工种",
    "level": "等级",
    "exam_date": "考试日期",
    "theory_score": "理论成绩",
    "practical_score": "实操成绩",
    "review_score": "综合评审成绩",
}
# Headers accepted beside the English ones: the template's, and spellings found in office tables.
HEADER_ALIASES = {
    **{zh: en for en, zh in LABELS_ZH.items()},
    "身份证号码": "id_number",
    "公民身份号码": "id_number",
    "考生姓名": "name",
    "学校代码": "school_org",
    "职业代码": "occupation_code",
    "职业(工种)编码": "occupation_code",
    "职业（工种）编码": "occupation_code",
    "技能等级": "level",
    "鉴定日期": "exam_date",
    "评价日期": "exam_date",
    "理论知识成绩": "theory_score",
    "操作技能成绩": "practical_score",
    "综合评审": "review_score",
}
LEVEL_WORDS = {
    "五级": "5",
    "初级工": "5",
    "五级/初级工": "5",
    "四级": "4",
    "中级工": "4",
    "四级/中级工": "4",
    "三级": "3",
    "高级工": "3",
    "三级/高级工": "3",
    "二级": "2",
    "技师": "2",
    "二级/技师": "2",
    "一级": "1",
    "高级技师": "1",
    "一级/高级技师": "1",
}
CHARSETS = {
    "utf-8": "utf-8-sig",
    "utf8": "utf-8-sig",
    "gb18030": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "cp936": "gb18030",
}
# Guards on XLSX (hostile or accidental): what the zip may unpack to and how much of a sheet is read.
MAX_XLSX_UNCOMPRESSED = 64 * 1024 * 1024
MAX_XLSX_PARTS = 2_000
MAX_COLUMNS = 64
_SLASH_DATE = re.compile(r"^(\d{4})[/.年](\d{1,2})[/.月](\d{1,2})日?$")
_COMPACT_DATE = re.compile(r"^((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def file_kind(content_type: str, raw: bytes) -> str | None:
    """``csv``, ``xlsx``, or None (JSON) for an upload; a sniffed type is decided by its bytes."""
    kind = media_type(content_type)
    if kind in SNIFFED_TYPES:
        if raw.startswith(ZIP_MAGIC) or raw.startswith(OLE_MAGIC):
            return "xlsx"
        return None if raw.lstrip()[:1] == b"{" else "csv"  # a JSON envelope stays JSON
    if kind in CSV_TYPES:
        return "csv"
    if kind == XLSX_TYPE:
        return "xlsx"
    return None


def charset_of(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None


def decode_csv(raw: bytes, charset: str | None) -> str:
    """The ``charset`` given, else UTF-8 (BOM or not) and then GB18030, Excel's 「CSV (逗号分隔)」 in China."""
    if charset is not None:
        codec = CHARSETS.get(charset)
        if codec is None:
            raise InvalidInput(
                f"CSV charset {charset!r} is not supported",
                errors=[field_error(["header", "Content-Type"], "charset must be utf-8 or gb18030 (gbk)")],
            )
        try:
            return raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"CSV is not {charset}", errors=[field_error(["body"], f"not {charset} at byte {exc.start}")]
            ) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "CSV must be UTF-8 or GB18030",
            errors=[field_error(["body"], f"neither UTF-8 nor GB18030 at byte {exc.start}")],
        ) from exc


def column_of(header: Any) -> str | None:
    """The column a header cell names, English or Chinese; None for columns we do not read."""
    if header is None:
        return None
    name = str(header).strip().lstrip("\ufeff").strip()
    if name.lower() in LABELS_ZH:
        return name.lower()
    return HEADER_ALIASES.get(name) or HEADER_ALIASES.get(name.replace(" ", "")) or None


def _header(cells: Iterable[Any], source: str) -> list[str | None]:
    columns = [column_of(c) for c in cells]
    missing = [c for c in COLUMNS if c not in columns and c not in OPTIONAL_COLUMNS]
    if missing:
        raise InvalidInput(
            f"{source} header lacks columns",
            errors=[field_error(["body", "header"], f"missing {c} ({LABELS_ZH[c]})") for c in missing],
        )
    return columns


def _is_header_row(columns: list[str | None], cells: list[str]) -> bool:
    """The template's second header row (the other language's names) is not data."""
    named = [(col, cell) for col, cell in zip(columns, cells, strict=False) if col is not None and cell]
    return bool(named) and all(column_of(cell) == col for col, cell in named)


def _flat(columns: list[str | None], cells: list[str]) -> dict[str, str] | None:
    """One data row as column → stripped text; None for a blank line (Excel leaves ``,,,,`` lines)."""
    row: dict[str, str] = {}
    blank = True
    for col, cell in zip(columns, cells, strict=False):
        if col is None:
            continue
        value = cell.strip()
        if value:
            blank = False
            if col == "exam_date":
                value = _iso_date(value)
            elif col == "level":
                value = LEVEL_WORDS.get(value, value)
        row[col] = value
    return None if blank else row


def _iso_date(value: str) -> str:
    """``2026/11/10`` (Excel's CSV on Chinese Windows), ``2026年11月10日``, ``20261110`` → ISO; else as given."""
    m = _SLASH_DATE.match(value) or _COMPACT_DATE.match(value)
    return f"{int(m[1]):04d}-{int(m[2]):02d}-{int(m[3]):02d}" if m else value


def _tabular_rows(lines: Iterator[list[str]], source: str, max_records: int) -> list[dict[str, str]]:
    columns = _header(next(lines, []), source)
    rows: list[dict[str, str]] = []
    first = True
    for cells in lines:
        if first and _is_header_row(columns, cells):
            first = False
            continue
        row = _flat(columns, cells)
        if row is None:
            continue
        first = False
        if len(rows) >= max_records:
            raise PayloadTooLarge(f"a batch holds at most {max_records} records, this file more")
        rows.append(row)
    return rows


def csv_rows(raw: bytes, content_type: str, *, max_records: int) -> list[dict[str, str]]:
    text = decode_csv(raw, charset_of(content_type))
    reader = csv.reader(io.StringIO(text))
    try:
        return _tabular_rows(reader, "CSV", max_records)
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit: the line that has it
        raise InvalidInput(
            "CSV could not be read", errors=[field_error(["body", f"line {reader.line_num}"], str(exc))]
        ) from exc


def _check_zip(raw: bytes) -> None:
    """Refuses what would unpack too large (zip bombs), carries too many parts, or declares a DTD."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            infos = z.infolist()
            if len(infos) > MAX_XLSX_PARTS:
                raise PayloadTooLarge(f"the workbook has {len(infos)} parts, at most {MAX_XLSX_PARTS}")
            total = sum(i.file_size for i in infos)
            if total > MAX_XLSX_UNCOMPRESSED:
                raise PayloadTooLarge(
                    f"the workbook unpacks to {total} bytes, at most {MAX_XLSX_UNCOMPRESSED}",
                )
            for info in infos:
                if info.filename.endswith((".xml", ".rels")):
                    with z.open(info) as part:
                        head = part.read(2048)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise InvalidInput(
                            "The workbook declares a DTD",
                            errors=[field_error(["body"], f"{info.filename}: DTDs are not accepted")],
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        hint = (
            "an .xls (Excel 97–2003) or password-protected workbook: save it as .xlsx without a password"
            if raw.startswith(OLE_MAGIC)
            else "not a zip"
        )
        raise InvalidInput("The body is not an XLSX workbook", errors=[field_error(["body"], hint)]) from exc


def _cell_text(value: Any, column: str | None) -> str:
    """An XLSX cell as the text a CSV cell would hold (dates ISO, 4.0 → 4, 80.5 stays 80.5)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if column == "exam_date" and 1 <= value < 2_958_466:
            from openpyxl.utils.datetime import from_excel

            return str(from_excel(value).date().isoformat())
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int) and column == "exam_date" and 1 <= value < 2_958_466:
        from openpyxl.utils.datetime import from_excel

        return str(from_excel(value).date().isoformat())
    return str(value)


def _sheet_table(values: Iterator[Sequence[Any]], max_records: int) -> list[dict[str, str]]:
    header = list(next(values, ()))[:MAX_COLUMNS]
    columns = [column_of(h) for h in header]

    def lines() -> Iterator[list[str]]:
        yield [str(h) if h is not None else "" for h in header]
        for cells in values:
            yield [_cell_text(v, c) for v, c in zip(cells, columns, strict=False)]

    return _tabular_rows(lines(), "XLSX", max_records)


def xlsx_rows(raw: bytes, *, max_records: int) -> list[dict[str, str]]:
    """The first sheet's rows; a header row (English or Chinese names), optionally a second one.

    Read with the lean reader (``xlsx_reader``); a workbook it leaves alone goes to openpyxl."""
    _check_zip(raw)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            return _sheet_table(sheet_rows(z), max_records)
    except (Unsupported, ParseError, KeyError, ValueError, IndexError, zipfile.BadZipFile):
        pass
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
        raise InvalidInput(
            "The XLSX workbook could not be read", errors=[field_error(["body"], type(exc).__name__)]
        ) from exc
    try:
        # No max_col: openpyxl pads every row to it, which doubles the read; rows are cut to the header.
        return _sheet_table(book.worksheets[0].iter_rows(values_only=True), max_records)
    finally:
        book.close()


def nested(row: dict[str, str]) -> dict[str, Any]:
    """A flat row as the JSON record shape (candidate fields kept even when empty, as CSV always did)."""
    record: dict[str, Any] = {"candidate": {}}
    for key, value in row.items():
        if key in CANDIDATE_COLUMNS:
            record["candidate"][key] = value
        elif value != "":
            record[key] = value
    for key in CANDIDATE_COLUMNS:
        record["candidate"].setdefault(key, "")
    return record


def flatten(record: Any) -> dict[str, str]:
    """A JSON record as the flat row a report shows (whatever shape it came in)."""
    if not isinstance(record, dict):
        return {}
    candidate = record.get("candidate")
    candidate = candidate if isinstance(candidate, dict) else {}
    out: dict[str, str] = {}
    for col in COLUMNS:
        value = candidate.get(col) if col in CANDIDATE_COLUMNS else record.get(col)
        out[col] = "" if value is None else str(value)
    return out
