"""Untrusted text embedded in log lines and Markdown: table-driven."""

import pytest
from markdown_it import MarkdownIt

from gladly_assets.text import markdown_table, printable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain-id_123", "plain-id_123"),
        ("a\nb", "a\\nb"),
        ("nul\x00", "nul\\x00"),
        ("tab\tcr\r", "tab\\tcr\\r"),
        ("sep\u2028", "sep\\u2028"),
        ("x" * 200, "x" * 119 + "…"),
    ],
)
def test_printable(value, expected):
    assert printable(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "<img src=x onerror=alert(1)>",
        "![i](http://e/i.png)",
        "[a](http://e)",
        "`code`",
        "a | b | c",
        "line\n| fake | row |",
        "**bold** _it_ ~~s~~",
        "&lt;b&gt;",
        "\\|",
        "<https://autolink.example>",
        "# heading",
    ],
)
def test_a_markdown_cell_renders_as_the_literal_text(value):
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown_table(["k"], [(value,)]))
    assert html.count("<tr>") == 2 and html.count("<td>") == 1
    for tag in ("<img", "<a ", "<code>", "<strong>", "<em>", "<s>", "<h1>", "<b>"):
        assert tag not in html
    rendered = html.split("<td>")[1].split("</td>")[0]
    expected = printable(value, 40).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert rendered == expected.replace('"', "&quot;")
