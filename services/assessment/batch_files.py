"""Files for the people behind an upload: the row report (CSV or XLSX) and a body's template.

Both carry the two header rows (Chinese, then English), so a report or a filled template uploads
again as it is: the status, certificate and error columns are not upload columns and are skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from .rules import LEVEL_NAMES, FilingView
from .uploads import COLUMNS, LABELS_ZH, OPTIONAL_COLUMNS, XLSX_TYPE

FileFormat = Literal["xlsx", "csv"]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
MEDIA_TYPES: dict[str, str] = {"xlsx": XLSX_TYPE, "csv": CSV_MEDIA_TYPE}
TEMPLATE_ROWS = 10_000  # data validation reaches this many rows below the headers
STATUS_WORDS = {"accepted": "接收 accepted", "rejected": "拒绝 rejected", "duplicate": "重复 duplicate"}
REPORT_COLUMNS = ("index", "status", "certificate_number", "errors")
REPORT_LABELS_ZH = {"index": "序号", "status": "状态", "certificate_number": "证书编号", "errors": "错误"}
# Each error type in words, Chinese first; the English message follows in brackets.
ERRORS_ZH = {
    "missing": "缺少此项",
    "string_too_short": "不能为空",
    "string_too_long": "过长",
    "string_type": "应为文本",
    "string_pattern_mismatch": "格式不符",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字",
    "decimal_max_places": "最多一位小数",
    "decimal_whole_digits": "整数位过多",
    "less_than_equal": "数值过大",
    "greater_than_equal": "数值过小",
    "date_parsing": "应为日期，如 2026-11-10",
    "date_from_datetime_parsing": "应为日期，如 2026-11-10",
    "date_from_datetime_inexact": "应为日期，不带时间",
    "date_type": "应为日期，如 2026-11-10",
    "model_type": "记录格式不对",
    "dict_type": "记录格式不对",
    "invalid_id_number": "身份证号无效（校验位或出生日期不符）",
    "unknown_occupation": "职业编码不在国家职业分类中",
    "exam_date_in_future": "考试日期晚于今天",
    "no_filing_in_force": "考试日期当天本机构没有有效备案",
    "outside_filing_scope": "本机构有效备案不含此职业（工种）和等级",
    "not_own_student": "用人单位评价机构只评价本校学生",
    "not_graduating_year": "考试日期不在考生的毕业学年内",
    "review_score_required": "二级、一级须有综合评审成绩",
    "repeated_in_batch": "外部编号在本批前面已出现",
}
PATTERN_HINTS = {"occupation_code": "职业编码格式为 d-dd-dd-dd，如 6-25-02-05"}
COLUMN_NOTES = {
    "external_id": "本校对这条成绩的编号，同一机构内唯一；重复上传同一编号视为重复，不会重复登记",
    "id_number": "18位居民身份证号（GB 11643），单元格请设为文本，以免末位丢失或变成科学计数",
    "name": "考生姓名",
    "student_no": "学号",
    "school_org": "学校的机构代码（用人单位评价机构只评价本校学生）",
    "graduation_year": "毕业年份，如 2027；考试日期须在 (年份-1)-09-01 至 年份-08-31 之间（用人单位评价机构）",
    "major": "所学专业",
    "occupation_code": "国家职业分类编码 d-dd-dd-dd；须在本机构有效备案范围内（见下表）",
    "work_type": "工种，备案范围指定工种时必填，否则可空",
    "level": "技能等级 1–5：5 五级/初级工 … 1 一级/高级技师",
    "exam_date": "考试日期（Excel 日期或 2026-11-10），不得晚于今天，须在备案有效期内",
    "theory_score": "理论知识成绩 0–100，至多一位小数；≥60 合格",
    "practical_score": "操作技能成绩 0–100，至多一位小数；≥60 合格",
    "review_score": "综合评审成绩 0–100；二级、一级必填，≥60 合格",
}


@dataclass(frozen=True)
class ReportRow:
    index: int
    status: str
    certificate_number: str | None
    cells: dict[str, str]
    errors: list[dict[str, Any]]


def _column_of(loc: Sequence[Any]) -> str | None:
    names = [p for p in loc if isinstance(p, str)]
    return names[-1] if names else None


def error_words(error: dict[str, Any]) -> str:
    """``等级：数值过大（level: Input should be less than or equal to 5）``."""
    column = _column_of(error.get("loc", []))
    kind = str(error.get("type", ""))
    zh = ERRORS_ZH.get(kind, "不符合要求")
    if kind == "string_pattern_mismatch" and column in PATTERN_HINTS:
        zh = PATTERN_HINTS[column]
    label = LABELS_ZH.get(column or "", column or "记录")
    return f"{label}：{zh}（{column or 'record'}: {error.get('msg', kind)}）"


def _report_table(rows: Iterable[ReportRow]) -> Iterable[list[Any]]:
    yield [REPORT_LABELS_ZH[c] for c in REPORT_COLUMNS] + [LABELS_ZH[c] for c in COLUMNS]
    yield [*REPORT_COLUMNS, *COLUMNS]
    for row in rows:
        yield [
            row.index,
            STATUS_WORDS.get(row.status, row.status),
            row.certificate_number or "",
            "；".join(error_words(e) for e in row.errors),
            *(row.cells.get(c) or None for c in COLUMNS),
        ]


def _csv_bytes(table: Iterable[list[Any]]) -> bytes:
    # UTF-8 with a BOM: Excel on Chinese Windows opens it with the right characters.
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(table)
    return ("\ufeff" + out.getvalue()).encode()


def report_file(rows: Iterable[ReportRow], fmt: FileFormat) -> bytes:
    """The uploaded rows with status, certificate number and each error in words."""
    if fmt == "csv":
        return _csv_bytes(_report_table(rows))
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    # Write-only: 10,000 rows in well under a second (a normal workbook took 5 s of CPU).
    book = Workbook(write_only=True)
    sheet = book.create_sheet("报告 report")
    _widths(sheet, [8, 14, 24, 60] + [14] * len(COLUMNS))
    sheet.freeze_panes = "A3"
    bold, bad = Font(bold=True), PatternFill("solid", fgColor="FFF2CC")

    def styled(values: list[Any], n: int, *, font: Font | None = None, fill: PatternFill | None = None) -> list[Any]:
        cells: list[Any] = []
        for value in values[:n]:
            cell = WriteOnlyCell(sheet, value=value)
            if font is not None:
                cell.font = font
            if fill is not None:
                cell.fill = fill
            cells.append(cell)
        return cells + values[n:]

    for n, line in enumerate(_report_table(rows)):
        if n < 2:
            sheet.append(styled(line, len(line), font=bold))
        elif line[3]:
            sheet.append(styled(line, 4, fill=bad))
        else:
            sheet.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _widths(sheet: Any, widths: list[int]) -> None:
    from openpyxl.utils import get_column_letter

    for i, w in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = w


@dataclass(frozen=True)
class ScopeLine:
    occupation_code: str
    work_type: str | None
    levels: tuple[int, ...]
    filing_no: str
    valid_to: date


def scope_in_force(filings: Iterable[tuple[str, FilingView]], on: date) -> list[ScopeLine]:
    return [
        ScopeLine(item["occupation_code"], item.get("work_type"), tuple(item["levels"]), no, f.valid_to)
        for no, f in filings
        if f.in_force(on)
        for item in f.scope
    ]


def template_file(scope: list[ScopeLine], fmt: FileFormat) -> bytes:
    """Both header rows; in XLSX also data validation and a sheet explaining each column."""
    headers = [[LABELS_ZH[c] for c in COLUMNS], list(COLUMNS)]
    if fmt == "csv":
        return _csv_bytes(headers)
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "成绩 results"
    for line in headers:
        sheet.append(line)
    for cell in [*sheet[1], *sheet[2]]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A3"
    _widths(sheet, [16, 22, 10, 12, 14, 10, 14, 14, 12, 8, 12, 10, 10, 12])
    notes = book.create_sheet("说明 columns")
    _explain(notes, scope)
    _validate(
        sheet, scope, codes_ref=f"'{notes.title}'!$A${SCOPE_FIRST_ROW}:$A${SCOPE_FIRST_ROW + max(len(scope), 1) - 1}"
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


SCOPE_FIRST_ROW = len(COLUMNS) + 5


def _explain(notes: Any, scope: list[ScopeLine]) -> None:
    from openpyxl.styles import Font

    notes.append(["列名", "column", "必填 required", "说明"])
    for c in COLUMNS:
        notes.append([LABELS_ZH[c], c, "否 no" if c in OPTIONAL_COLUMNS else "是 yes", COLUMN_NOTES[c]])
    notes.append([])
    notes.append(["本机构今日有效的备案范围 (filings in force today)"])
    notes.append(["职业编码 occupation_code", "工种 work_type", "等级 levels", "备案号 filing_no", "有效至 valid_to"])
    assert notes.max_row == SCOPE_FIRST_ROW - 1
    for line in scope:
        levels = "、".join(f"{lv} {LEVEL_NAMES[lv]}" for lv in sorted(line.levels))
        notes.append([line.occupation_code, line.work_type or "", levels, line.filing_no, line.valid_to])
        notes.cell(row=notes.max_row, column=5).number_format = "yyyy-mm-dd"
    if not scope:
        notes.append(["（无：本机构今日没有有效备案，成绩将被拒绝）"])
    for row in (1, SCOPE_FIRST_ROW - 2, SCOPE_FIRST_ROW - 1):
        for cell in notes[row]:
            cell.font = Font(bold=True)
    _widths(notes, [24, 18, 28, 90, 14])


def _validate(sheet: Any, scope: list[ScopeLine], *, codes_ref: str) -> None:
    from openpyxl.worksheet.datavalidation import DataValidation

    last = TEMPLATE_ROWS + 2

    def column(name: str) -> str:
        from openpyxl.utils import get_column_letter

        letter = get_column_letter(COLUMNS.index(name) + 1)
        return f"{letter}3:{letter}{last}"

    levels = sorted({lv for line in scope for lv in line.levels}) or [1, 2, 3, 4, 5]
    rules = [
        (DataValidation(type="list", formula1=f'"{",".join(map(str, levels))}"'), "level"),
        (DataValidation(type="list", formula1=codes_ref), "occupation_code"),
        (DataValidation(type="decimal", operator="between", formula1="0", formula2="100"), "theory_score"),
        (DataValidation(type="decimal", operator="between", formula1="0", formula2="100"), "practical_score"),
        (DataValidation(type="decimal", operator="between", formula1="0", formula2="100"), "review_score"),
        (DataValidation(type="whole", operator="between", formula1="2000", formula2="2100"), "graduation_year"),
        (
            DataValidation(type="date", operator="between", formula1="DATE(2000,1,1)", formula2="DATE(2100,12,31)"),
            "exam_date",
        ),
    ]
    for dv, name in rules:
        dv.allow_blank = True
        dv.showErrorMessage = True
        dv.errorTitle = LABELS_ZH[name]
        dv.error = COLUMN_NOTES[name]
        dv.add(column(name))
        sheet.add_data_validation(dv)
    # Column styles, not cells: ID numbers stay text (18 digits), dates show as dates.
    from openpyxl.utils import get_column_letter

    sheet.column_dimensions[get_column_letter(COLUMNS.index("id_number") + 1)].number_format = "@"
    sheet.column_dimensions[get_column_letter(COLUMNS.index("exam_date") + 1)].number_format = "yyyy-mm-dd"
