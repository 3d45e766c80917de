"""The web page in headless Chromium: upload images, see scores, a bar chart and decisions."""

import shutil
from pathlib import Path

import pytest

from tests import image_corpus
from tests.server_process import nima_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_upload_shows_scores(browser, tiny_weights, tmp_path):
    corpus = image_corpus.build(tmp_path / "imgs")
    shots = Path(__file__).resolve().parents[1] / "reports" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with nima_server(tiny_weights) as (url, _):
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('model').textContent.includes('engine')")
        page.set_input_files("#files", [str(corpus / "photo.jpg"), str(corpus / "text.jpg"), str(corpus / "cmyk.jpg")])
        page.wait_for_selector("text=2 scored, 1 not scored.", timeout=60_000)
        cards = page.locator(".card")
        assert cards.count() == 3
        scores = [float(t) for t in page.locator(".score").all_inner_texts()]
        assert len(scores) == 2 and all(1 <= s <= 10 for s in scores)
        assert page.locator(".bars").first.locator("div").count() == 10
        assert page.locator(".badge").count() == 2
        assert "not an image" in page.locator(".error").inner_text()
        page.screenshot(path=str(shots / "service_page.png"), full_page=True)
