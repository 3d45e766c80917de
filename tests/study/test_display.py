"""Report pages built from a hostile model card run no script: the notebooks' Markdown and tables
(nima_utils.study.display, rendered by nbconvert as a report page is) and the pipeline's run page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nima_utils.study.display import md, md_code, value_table

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = ("<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"
           "[click](javascript:document.title='pwned') **bold** `tick")


def _notebook_page(tmp_path: Path) -> Path:
    """A notebook page as nbconvert writes notebook 03's card table and 04's Markdown lines."""
    import nbformat
    from nbconvert import HTMLExporter

    card = {"notes": HOSTILE, "training_data": HOSTILE, HOSTILE: "a key from a card"}
    nb = nbformat.v4.new_notebook()
    table = nbformat.v4.new_code_cell("value_table(rows)")
    table.outputs = [nbformat.v4.new_output("display_data", {"text/html": value_table(card).to_html()})]
    text = nbformat.v4.new_code_cell("display(Markdown(...))")
    markdown = f"**Weights:** {md_code(HOSTILE)}.  \n**Trained on:** {md(HOSTILE)}."
    text.outputs = [nbformat.v4.new_output("display_data", {"text/markdown": markdown})]
    nb.cells = [table, text]
    body, _ = HTMLExporter().from_notebook_node(nb)
    page = tmp_path / "notebook.html"
    page.write_text(body, encoding="utf-8")
    return page


def _run_page(tmp_path: Path) -> Path:
    from nima_utils.pipeline.report import write_run

    out = tmp_path / "run"
    out.mkdir()
    train = {"best_epoch": HOSTILE, "best_val_emd": HOSTILE, "backend": HOSTILE, "device": HOSTILE,
             "validation": {HOSTILE: {"emd": HOSTILE}}}
    test = {"n_images": HOSTILE, "split": HOSTILE, "data_source": HOSTILE, "weights": HOSTILE,
            "metrics": {"model": {"emd": {"value": HOSTILE, "low": HOSTILE, "high": HOSTILE}}}}
    result = {"run": "x", "description": HOSTILE, "status": HOSTILE, "started": HOSTILE, "seconds": 1.0,
              "config": HOSTILE, "config_text": HOSTILE, "variants": [{"name": HOSTILE, "train": train, "test": test}],
              "steps": [], "provenance": {"git_commit": HOSTILE, "versions": {HOSTILE: HOSTILE},
                                          "platform": HOSTILE},
              "failure": {"notebook": HOSTILE, "error": HOSTILE, "cell": 1, "line": HOSTILE, "html": HOSTILE}}
    return write_run(out, result)


def test_hostile_card_text_is_shown_as_text():
    assert "<" not in md(HOSTILE) and "](" not in md(HOSTILE)
    html = value_table({"notes": HOSTILE, HOSTILE: 1}).to_html()
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html


def test_no_script_runs_in_report_pages_from_a_hostile_card(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    pages = [_notebook_page(tmp_path), _run_page(tmp_path)]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.route("http*://**", lambda route: route.abort())
        for path in pages:
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(200)  # an onerror handler fires after the image fails
            assert page.title() != "pwned", path.name
            scripts = page.locator("script").evaluate_all("els => els.filter(e => e.text.includes('pwned')).length")
            assert scripts == 0, path.name
            assert page.locator("img[onerror]").count() == 0, path.name
            assert "<script>document.title='pwned'</script>" in page.inner_text("body"), path.name
            for link in page.locator("a").all():
                assert not (link.get_attribute("href") or "").startswith("javascript:"), path.name
        browser.close()
