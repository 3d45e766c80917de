"""Executed notebooks as HTML pages for reading, and their outputs as plain-text logs.

The page drops what is noise to a reader (stderr streams, TensorFlow/absl/oneDNN log lines, progress
bars, widget placeholders, raw JSON dumps); the log keeps every output, so nothing is lost."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

_NOISE = re.compile(
    r"oneDNN|absl|^\s*[IWEF]\d{4} \d\d:\d\d|TF_ENABLE_ONEDNN_OPTS|cuda_|computation placer|"
    r"\d+%\|.*\||\d+/\d+ \[\d\d:\d\d|it/s\]|s/it\]|━━"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _is_json_dump(text: str) -> bool:
    text = text.strip()
    if not text or text[0] not in "{[":
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def clean_text(text: str) -> str:
    """stdout as a reader wants it: each carriage-returned line at its last state, noise lines gone."""
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    return "\n".join(line for line in lines if not _NOISE.search(line))


def clean_outputs(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stderr" or _is_json_dump(out.get("text", "")):
                continue
            text = clean_text(out.get("text", ""))
            if not text.strip():
                continue
            out["text"] = text
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data or (set(data) <= {"text/plain"} and (
                    data.get("text/plain", "").startswith(("HBox(", "VBox(", "FloatProgress(")))):
                continue
        kept.append(out)
    return kept


class ReadableOutputs(Preprocessor):
    """nbconvert preprocessor: `clean_outputs` on every code cell."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.outputs = clean_outputs(cell.outputs)
        return cell, resources


_SELF_CONTAINED = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
"""JupyterLab's page without the scripts it loads from CDNs (require.js, MathJax, Mermaid, widgets):
the notebooks hold no maths, diagrams or widgets, and a report must read offline, so the page is the
HTML, CSS and inline images alone."""


def export_html(notebook: str | Path, html: str | Path | None = None) -> Path:
    """Write the notebook's readable, self-contained HTML page beside it (or to `html`)."""
    import jinja2

    notebook = Path(notebook)
    html = Path(html) if html else notebook.with_suffix(".html")
    exporter = HTMLExporter(template_name="lab", template_file="nima_page.html.j2",
                            extra_loaders=[jinja2.DictLoader({"nima_page.html.j2": _SELF_CONTAINED})])
    exporter.register_preprocessor(ReadableOutputs(), enabled=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    html.write_text(body, encoding="utf-8")
    return html


def write_log(notebook: str | Path, log: str | Path, extra: str = "") -> Path:
    """Every output of every cell (stderr and tracebacks included) as text, then `extra` (the kernel's stderr)."""
    nb = nbformat.read(Path(notebook), as_version=4)
    parts = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        first = (cell.source.strip().splitlines() or [""])[0]
        parts.append(f"===== cell {index}: {first}")
        for out in cell.outputs:
            if out.output_type == "stream":
                parts.append(f"[{out.name}] " + out.text.rstrip())
            elif out.output_type == "error":
                parts.append(_ANSI.sub("", "\n".join(out.traceback)))
            else:
                parts.append(out.get("data", {}).get("text/plain", f"<{out.output_type}>"))
    if extra.strip():
        parts.append("===== kernel stderr\n" + extra.rstrip())
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return log
