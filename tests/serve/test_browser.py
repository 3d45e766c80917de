"""The web page in headless Chromium: upload images, see scores, a bar chart and decisions."""

import shutil
from pathlib import Path

import pytest

from tests import image_corpus
from tests.server_process import nima_server

pytestmark = pytest.mark.browser

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
    shots = tmp_path  # never the user's reports/
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


def _noise_jpeg(path: Path, side: int, seed: int) -> Path:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=95)  # noise barely compresses: about 1.2 bytes a pixel
    return path


def test_page_splits_uploads_by_total_size_and_refuses_oversized_files_itself(browser, tiny_weights, tmp_path):
    """Ten ~85 kB photos under a 0.3 MiB request limit go out in several requests, all scored; a file
    over the per-file limit is refused on the page without being sent."""
    photos = [_noise_jpeg(tmp_path / f"p{i}.jpg", 260, i) for i in range(10)]
    big = _noise_jpeg(tmp_path / "big.jpg", 460, 99)
    assert all(60_000 < p.stat().st_size < 100_000 for p in photos) and big.stat().st_size > 0.2 * (1 << 20)
    with nima_server(tiny_weights, "--max-request-mb", "0.3", "--max-file-mb", "0.2") as (url, _):
        page = browser.new_page()
        posts = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('model').textContent.includes('engine')")
        page.set_input_files("#files", [str(p) for p in photos] + [str(big)])
        page.wait_for_selector("text=10 scored, 1 not scored.", timeout=60_000)
        assert len(posts) >= 4 and all(p.endswith("/score/batch") for p in posts)  # 3 photos fit in 0.3 MiB
        assert page.locator(".score").count() == 10
        assert "over the limit of 0.2 MiB" in page.locator(".error").inner_text()


def test_api_docs_render_offline(browser, tiny_weights, tmp_path):
    with nima_server(tiny_weights) as (url, _):
        page = browser.new_page()
        requested = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(url + "/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "NIMA Lab scoring service" in page.locator(".swagger-ui .info .title").inner_text()
        page.wait_for_function("document.querySelectorAll('.opblock').length >= 3")  # the operations, listed
        assert "/score/batch" in page.locator(".opblock-summary-path").all_inner_texts()
        assert requested and all(u.startswith(url) or u.startswith("data:") for u in requested), requested
        page.screenshot(path=str(tmp_path / "docs_page.png"), full_page=True)
