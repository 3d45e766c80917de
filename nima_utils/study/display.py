"""Values from model cards, configs, file names and image ids shown in notebooks, escaped: a card
from someone else may hold HTML or Markdown, and nbconvert keeps raw HTML in the report page, where a
browser would run its scripts. Notebooks build their Markdown and tables with these, never raw."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~<>-])")


def md(value: Any) -> str:
    """`value` as literal text inside Markdown: HTML escaped, then Markdown's punctuation backslash-escaped
    (no tags, links, images or emphasis can come from it)."""
    return _MARKDOWN.sub(r"\\\1", html.escape(str(value), quote=True).replace("\n", " "))


def md_code(value: Any) -> str:
    """`value` as inline code (a file name, an id): a <code> element around `md(value)`, since a
    backtick in the value would end a Markdown code span (and Markdown still applies inside HTML)."""
    return f"<code>{md(value)}</code>"


def value_table(rows: Mapping[str, Any]):
    """A two-column table (name, value) as a pandas Styler whose cells and index are HTML escaped."""
    import pandas as pd

    frame = pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=[str(k) for k in rows])
    return frame.style.format(escape="html").format_index(escape="html").set_properties(**{"text-align": "left"})
