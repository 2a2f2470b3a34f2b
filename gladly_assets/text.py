"""Untrusted text made safe to embed: in a log line, a metadata value, a Markdown table.

Job ids, keys and values come from Gladly's server and files: a newline in a job id
must not forge a log line, and a value must not become an image, HTML or a table row
in the Dagster UI.
"""

from __future__ import annotations

import re
import string

# Control characters, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# CommonMark renders a backslash before any ASCII punctuation as that character, literally.
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")


def printable(value: object, limit: int = 120) -> str:
    """``value`` on one line: control characters as escapes (``\\n``), cut to ``limit`` characters."""
    text = str(value)
    text = _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def markdown_text(value: object, limit: int = 40) -> str:
    """``value`` as literal Markdown text on one line: nothing in it is markup."""
    return _PUNCTUATION.sub(r"\\\1", printable("" if value is None else value, limit))


def markdown_table(columns: list[str], rows: list[tuple[object, ...]], limit: int = 40) -> str:
    """A GitHub-flavoured Markdown table whose cells are literal text."""
    lines = [
        "| " + " | ".join(markdown_text(column, limit) for column in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += ["| " + " | ".join(markdown_text(cell, limit) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
