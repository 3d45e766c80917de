"""Notebook 05 in a real browser: JupyterLab on 127.0.0.1, the notebook run in headless Chromium, a slider
dragged to its left end, and the displayed score becomes the package's prediction for the new setting."""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.notebook_runner import NOTEBOOKS
from tests.serve.test_browser import ARGS, CHROMIUM
from tests.server_process import free_port, served

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def jupyter_lab(folder: Path, state: Path) -> Iterator[str]:
    """JupyterLab serving `folder` on a free port of 127.0.0.1, no token, no browser; stopped afterwards."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "JUPYTER_RUNTIME_DIR": str(state / "runtime"), "JUPYTER_CONFIG_DIR": str(state / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
           f"--notebook-dir={folder}", "--ServerApp.token=", "--ServerApp.password=", "--expose-app-in-browser",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    url, log = f"http://127.0.0.1:{port}", state / "lab.log"
    with open(log, "wb") as sink, served(cmd, url + "/api/status", "JupyterLab", 90, lambda _: log.read_text()[-2000:],
                                         env=env, stdout=sink, stderr=subprocess.STDOUT):
        yield url


def _parameterised_copy(folder: Path, **parameters) -> Path:
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = parameterize_notebook(load_notebook_node(str(NOTEBOOKS / "05_explore.ipynb")), parameters)
    path = folder / "05_explore.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.browser
def test_moving_a_slider_in_jupyterlab_changes_the_displayed_score(tmp_path, lively_weights):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    from nima_utils.images import load_image
    from nima_utils.model.engine import KerasEngine
    from nima_utils.study import explore
    from tests.image_corpus import photo

    (tmp_path / "photos").mkdir()
    photo().save(tmp_path / "photos" / "photo.jpg", quality=95)
    (tmp_path / "lab").mkdir()
    _parameterised_copy(tmp_path / "lab", weights=str(lively_weights), images=str(tmp_path / "photos"),
                        saliency_images=0, report_dir=str(tmp_path / "report"))
    engine = KerasEngine(lively_weights)
    img = load_image(tmp_path / "photos" / "photo.jpg")
    before = explore.explore(img, engine).mean
    after = explore.explore(img, engine, explore.Settings(edits={"brightness": 0.4})).mean
    assert f"{before:.2f}" != f"{after:.2f}"  # else the test could not see the change
    with jupyter_lab(tmp_path / "lab", tmp_path) as url, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{url}/lab/tree/05_explore.ipynb")
        page.wait_for_function("window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status"
                               " === 'idle'", timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        score = page.locator(".nima-score")
        score.wait_for(timeout=240_000)
        assert score.inner_text() == f"mean {before:.2f}"
        slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="brightness"))
        slider.scroll_into_view_if_needed()
        handle, track = slider.locator(".noUi-handle").bounding_box(), slider.locator(".noUi-target").bounding_box()
        page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] - 30, handle["y"] + handle["height"] / 2, steps=8)  # past the left end: 0.4
        page.mouse.up()
        page.wait_for_function("t => document.querySelector('.nima-score').textContent === t",
                               arg=f"mean {after:.2f}", timeout=60_000)
        page.screenshot(path=str(tmp_path / "explore.png"), full_page=True)
        browser.close()
