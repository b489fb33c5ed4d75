"""Row labels of the dashboard's bar charts fit their column: a long name is shortened, never cut
at the chart's edge, and keeps its full text in a <title>."""

from __future__ import annotations

import re

from gateway import charts


def _labels(svg: str) -> list[tuple[str, str]]:
    return re.findall(r'text-anchor="end" font-size="12"><title>([^<]*)</title>([^<]*)</text>', svg)


def test_a_long_chinese_name_is_shortened_to_its_column_with_the_full_name_in_a_title() -> None:
    long_name = "4-04-05-02 人工智能训练师(数据标注、算法测试与智能系统运维方向)"
    svg = str(charts.horizontal_bars([(long_name, 3.0), ("2-02-10-09 工业机器人", 1.0)], label="x", label_w=260))
    (full, shown), (full2, shown2) = _labels(svg)
    assert full == long_name
    assert shown.endswith("…") and long_name.startswith(shown[:-1])
    assert charts._text_width(shown, 12) <= 260 - 10
    assert (full2, shown2) == ("2-02-10-09 工业机器人", "2-02-10-09 工业机器人")  # fits: untouched


def test_split_bars_shorten_too_and_escape() -> None:
    name = "<b>" + "很" * 40
    svg = str(charts.split_bars([(name, 1.0, 2.0)], label="x", names=("a", "b")))
    ((full, shown),) = _labels(svg)
    assert full == "&lt;b&gt;" + "很" * 40
    assert shown.startswith("&lt;b&gt;很") and shown.endswith("…")
    assert "<b>" not in svg


def test_width_counts_wide_characters_as_one_em() -> None:
    assert charts._text_width("很很", 12) == 24
    assert charts._text_width("ab", 10) == 12
