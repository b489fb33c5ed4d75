"""Any statistics answer as CSV or XLSX: the columns in order, then a totals row."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

from .views import Answer


def _table(answer: Answer) -> list[list[Any]]:
    rows = [[r.get(c) for c in answer.columns] for r in answer.rows]
    totals = ["total" if i == 0 and answer.group_by else answer.totals.get(c) for i, c in enumerate(answer.columns)]
    return [list(answer.columns), *rows, totals]


def to_csv(answer: Answer) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in _table(answer):
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + out.getvalue()).encode()  # the BOM lets spreadsheet programs read the Chinese names


def to_xlsx(answer: Answer) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(answer.view[:31])
    for row in _table(answer):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
