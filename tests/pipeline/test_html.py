"""A notebook's HTML page reads offline: no script or font fetched from a CDN."""

import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nima_utils.pipeline.html import export_html


def test_exported_page_is_self_contained(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("# Findings\nThe *model* scores."), new_code_cell("show()", outputs=[
        new_output("stream", name="stdout", text="scored 5 images\n"),
        new_output("stream", name="stderr", text="W0000 00:00:1 cpu_feature_guard.cc] noise\n"),
        new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})])])
    nbformat.write(nb, tmp_path / "page.ipynb")
    text = export_html(tmp_path / "page.ipynb").read_text()
    assert "Findings" in text and "scored 5 images" in text and "data:image/png;base64,iVBORw0KGgo=" in text
    assert "cpu_feature_guard" not in text
    assert not re.search(r"<script[^>]+src=[\"']?https?:", text) and "https://cdn" not in text
    assert "mathjax" not in text.lower() and "require.min.js" not in text
    assert not re.search(r"(@import|url\()\s*[\"']?https?:", text)  # no web fonts or style sheets either
