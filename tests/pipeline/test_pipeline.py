"""`nima pipeline`: notebooks 01 -> 04 from one config into a report folder, a sweep compared in the
index, configs refused whole before any work, a failing notebook named with its cell, missing weights
named offline, and the pages in headless Chromium. Everything is written under tmp_path."""

import ast
import importlib.util
import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from nima_utils.cli import main
from nima_utils.pipeline import prerequisites
from nima_utils.pipeline import run as pipeline
from nima_utils.pipeline.config import NOTEBOOKS, ConfigError, load, notebook_parameters, parse
from tests.http_server import serve

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STEPS = ["01_ava_download_cleanup", "02_train", "03_evaluate", "02_train", "03_evaluate", "04_sensitivity",
         "05_explore"]


def tiny_config(tmp: Path, weights: Path, **extra) -> dict:
    """Every notebook, fast: a 64 px random-init MobileNet, a short head phase, one all-layer epoch."""
    return {
        "run": "tiny", "description": "tests",
        "notebooks": {
            "01_ava_download_cleanup": {"cache_size": 72, "data_dir": str(tmp / "data")},
            "02_train": {"initial_weights": "none", "alpha": 0.25, "input_size": 64, "head_epochs": 20, "epochs": 1,
                         "weights_dir": str(tmp / "weights")},
            "03_evaluate": {"bootstrap": 100, "batch_size": 32},
            "04_sensitivity": {"weights": str(weights), "max_images": 3, "perturbations": ["contrast", "blur"]},
            "05_explore": {"weights": str(weights), "max_images": 2, "saliency_images": 1},
        },
        **extra,
    }


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, lively_weights):
    """One run of every notebook with a grid of two training variants (the slow part, shared)."""
    tmp = tmp_path_factory.mktemp("pipeline")
    config = parse(tiny_config(tmp, lively_weights, grid={"head_phase_lr": ["3.0e-3", 1.0e-2]}))
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as env:  # tracked in an MLflow store of its own (when MLflow is installed)
        env.setenv("NIMA_TRACKING", "on" if importlib.util.find_spec("mlflow") else "off")
        env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")
        result = pipeline.run(config, tmp / "reports", echo=lines.append)
    return tmp / "reports", result, lines


@pytest.mark.notebook
def test_pipeline_writes_pages_index_and_metrics(sweep):
    reports, _, lines = sweep
    out = reports / "tiny"
    saved = json.loads((out / "pipeline.json").read_text())
    assert saved["status"] == "ok" and saved["failure"] is None
    assert [s["notebook"] for s in saved["steps"]] == STEPS
    for step in saved["steps"]:
        assert step["status"] == "ok" and step["seconds"] > 0
        assert (out / step["ipynb"]).is_file() and (out / step["log"]).is_file()
        page = (out / step["html"]).read_text()
        for noise in ("oneDNN", "absl::", "jp-OutputArea-output\" data-mime-type=\"application/vnd.jupyter.stderr"):
            assert noise not in page, (step["html"], noise)
    # the terminal shows a line per notebook with its duration, then where the report is
    assert sum(" ok in " in line and line.endswith(".html") for line in lines) == 7
    assert lines[-1].startswith(f"report: {out / 'index.html'}")
    # notebook 01 ends with its summary in words; its figures go to summary.json, not onto the page
    page01 = (out / "01_ava_download_cleanup.html").read_text()
    assert "labelled images used" in page01 and '"label_stats": {' not in page01
    # wiring: 02 and 03 read 01's summary; 03 evaluates the weights 02 trained under the variant's run name
    data_summary = str((out / "01_ava_download_cleanup" / "summary.json").resolve())
    for variant in saved["variants"]:
        train, test = variant["train"], variant["test"]
        assert train["run"] == f"tiny-{variant['name']}" and Path(train["weights"]).is_file()
        assert test["weights"] == str(Path(train["weights"]).resolve()) and test["data_summary"] == data_summary
        metrics = json.loads((out / variant["name"] / "03_evaluate" / "metrics.json").read_text())
        emd = test["metrics"]["model"]["emd"]
        assert emd["value"] == metrics["model"]["emd"]["value"] and emd["low"] <= emd["value"] <= emd["high"]
    assert [v["overrides"]["head_phase_lr"] for v in saved["variants"]] == [3e-3, 1e-2]
    index = (out / "index.html").read_text()
    assert saved["provenance"]["git_commit"] in index and "tensorflow" in index
    for step in saved["steps"]:
        assert f'href="{step["html"]}"' in index
    figures = [p.name for p in (out / "figures").iterdir()]
    assert "01_ava_download_cleanup__label_stats.png" in figures and "04_sensitivity__contrast.png" in figures
    assert "05_explore__saliency.png" in figures  # 05 reads 01's split like 04 and lands on the run's pages
    assert saved["steps"][-1]["parameters"]["data_summary"] == data_summary
    overview = (reports / "index.html").read_text()
    assert 'href="tiny/index.html"' in overview and ">ok<" in overview


@pytest.mark.notebook
def test_sweep_is_one_mlflow_experiment_with_a_run_per_variant(sweep):
    pytest.importorskip("mlflow", reason="MLflow is in the track extra (make setup installs it)")
    from mlflow.tracking import MlflowClient

    reports, result, _ = sweep
    client = MlflowClient(f"sqlite:///{reports.parent / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pipeline-tiny")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {v["train"]["run"] for v in result["variants"]}
    for variant in result["variants"]:
        run = runs[variant["train"]["run"]]
        assert run.info.status == "FINISHED"
        assert run.data.params["head_phase_lr"] == str(variant["overrides"]["head_phase_lr"])
        assert run.data.metrics["test_emd"] == pytest.approx(variant["test"]["metrics"]["model"]["emd"]["value"])
        pages = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
        assert {"report/index.html", "report/02_train.html", "report/03_evaluate.html"} <= pages


@pytest.mark.notebook
def test_sweep_compares_variants_in_a_table_and_a_plot(sweep):
    reports, result, _ = sweep
    index = (reports / "tiny" / "index.html").read_text()
    table = index.split("Sweep: variants compared")[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert len(rows) == 2
    for row, variant in zip(rows, result["variants"], strict=True):
        emd = variant["test"]["metrics"]["model"]["emd"]["value"]
        assert variant["name"] in row and f"{emd:.4f}" in row and f"{variant['train']['best_val_emd']:.4f}" in row
    assert (reports / "tiny" / "figures" / "sweep.png").stat().st_size > 5000


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"run": "../up"}, "run must name the report folder"),
    ({"notebooks": {"05_publish": {}}}, "unknown notebook '05_publish'"),
    ({"notebooks": {"01_ava_download_cleanup": {"cache_sise": 72}}}, "unknown parameter 'cache_sise'"),
    ({"notebooks": {"01_ava_download_cleanup": {"cache_size": "big"}}}, "cache_size must be a whole number"),
    ({"notebooks": {"01_ava_download_cleanup": {}, "02_train": {"report_dir": "/tmp/x"}}}, "set by the pipeline"),
    ({"notebooks": {"02_train": {}}}, "must include 01_ava_download_cleanup"),
    ({"grid": {"learning_rate": [1, 2]}}, "grid.learning_rate: unknown parameter"),
    ({"grid": {"schedule": []}}, "grid.schedule: expected a non-empty list"),
])
def test_bad_config_is_refused_whole_before_any_work(tmp_path, lively_weights, change, message):
    config = {**tiny_config(tmp_path, lively_weights), **change}
    with pytest.raises(ConfigError, match="problem") as failure:
        parse(config)
    assert message in str(failure.value)


def test_bad_values_are_refused_before_notebook_01_downloads_anything(tmp_path, lively_weights):
    """Each notebook's own parameter check runs on the config first (where it needs no data yet)."""
    config = tiny_config(tmp_path, lively_weights, grid={"schedule": ["paper", "fast"]})
    blocks = config["notebooks"]
    blocks["01_ava_download_cleanup"].update(split_scheme="random", val_share=1.5)
    blocks["02_train"].update(backbone="resnet", dropout=1.0)
    blocks["03_evaluate"].update(bootstrap=5)
    blocks["04_sensitivity"].update(perturbations=["contrast", "vignette"])
    with pytest.raises(ConfigError) as failure:
        parse(config)
    message = str(failure.value)
    for words in ("notebooks.01_ava_download_cleanup: split_scheme must be one of",
                  "notebooks.01_ava_download_cleanup: val_share must be a number strictly between 0 and 1",
                  "grid variant schedule-paper: backbone must be one of", "grid variant schedule-paper: dropout",
                  "grid variant schedule-fast: schedule must be one of paper, two-phase",
                  "notebooks.03_evaluate: bootstrap must be 0", "notebooks.04_sensitivity: perturbations: unknown "
                  "vignette", "9 problem(s)"):
        assert words in message, (words, message)
    assert not (tmp_path / "data").exists()
    good = tiny_config(tmp_path, lively_weights)
    good["notebooks"]["01_ava_download_cleanup"]["limit"] = 10
    assert parse(good).notebooks["01_ava_download_cleanup"]["limit"] == 10  # data-free checks only: no cache yet


def test_bad_config_from_the_command_line(tmp_path, lively_weights, capsys):
    config = tiny_config(tmp_path, lively_weights)
    config["notebooks"]["02_train"].update(epochs="two", schedul="paper")
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    start = time.monotonic()
    assert main(["pipeline", str(path), "--reports", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 10
    assert "2 problem(s)" in err and "epochs must be a whole number" in err and "unknown parameter 'schedul'" in err
    assert "Traceback" not in err and not (tmp_path / "reports").exists() and not (tmp_path / "data").exists()
    path.write_text("run: [unclosed\n")
    assert main(["pipeline", str(path)]) == 2
    assert "is not valid YAML" in capsys.readouterr().err


@pytest.mark.notebook
def test_failing_notebook_is_named_with_its_cell_and_partial_output_kept(tmp_path):
    """A failure no config check can foresee: the AVA host is down (a closed port on 127.0.0.1)."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    config = parse({"run": "broken", "notebooks": {"01_ava_download_cleanup": {
        "source": "template", "url_template": dead + "/{id}.jpg", "labels_url": dead + "/AVA.txt",
        "request_delay": 0.0, "data_dir": str(tmp_path / "data")}}})
    with pytest.raises(pipeline.PipelineError) as failure:
        pipeline.run(config, tmp_path / "reports", echo=lambda line: None)
    message = str(failure.value)
    assert "notebook 01_ava_download_cleanup failed in cell 6 (files = fetch_source(" in message
    assert "DownloadError" in message and "could not get the label file" in message
    out = tmp_path / "reports" / "broken"
    saved = json.loads((out / "pipeline.json").read_text())
    assert saved["status"] == "failed" and saved["failure"]["cell"] == 6
    assert (out / "01_ava_download_cleanup.ipynb").is_file()
    assert "could not get the label file" in (out / "01_ava_download_cleanup.html").read_text()
    assert "failed in cell 6" in (out / "index.html").read_text()
    assert ">failed<" in (tmp_path / "reports" / "index.html").read_text()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_demo_names_each_missing_weights_file_fast(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NIMA_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    dead = f"http://127.0.0.1:{_closed_port()}"
    start = time.monotonic()
    code = main(["pipeline", str(ROOT / "configs" / "demo.yaml"), "--keras-url", dead + "/",
                 "--idealo-url", dead + "/idealo.hdf5"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - start < 15
    assert "mobilenet_1_0_224_tf_no_top.h5" in err and f"{dead}/mobilenet/mobilenet_1_0_224_tf_no_top.h5" in err
    assert "weights_mobilenet_aesthetic_0.07.hdf5" in err and f"{dead}/idealo.hdf5" in err
    assert "KERAS_HOME/models/" in err and "weights/" in err and "nima weights --url" in err
    assert "connection refused" in err and "Traceback" not in err
    assert not (tmp_path / "home" / "reports").exists()


def test_missing_imagenet_weights_are_fetched_when_online(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    payload = tmp_path / "served.h5"
    payload.write_bytes(b"keras weights" * 100)
    config = parse({"run": "x", "notebooks": {"01_ava_download_cleanup": {}, "02_train": {}}})
    with serve({"/mobilenet/mobilenet_1_0_224_tf_no_top.h5": payload}) as server:
        items = prerequisites.needed(config, keras_base_url=server.url + "/")
        assert [i.path.name for i in items] == ["mobilenet_1_0_224_tf_no_top.h5"]
        prerequisites.ensure(items, echo=lambda line: None)
    assert (tmp_path / "keras" / "models" / "mobilenet_1_0_224_tf_no_top.h5").read_bytes() == payload.read_bytes()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_config_checks_know_every_parameter_papermill_sees(name):
    """Typed (`name: str = ...`) and plain assignments alike: the config check knows what papermill injects."""
    import papermill as pm

    inferred = pm.inspect_notebook(ROOT / "notebooks" / f"{name}.ipynb")
    known = notebook_parameters(name)
    assert list(known) == list(inferred) and known
    defaults = {k: ast.literal_eval(v["default"]) for k, v in inferred.items()}
    assert {k: v["default"] for k, v in known.items()} == defaults


def test_demo_and_ava_configs_are_valid(tmp_path):
    import yaml

    demo = load(ROOT / "configs" / "demo.yaml")
    assert demo.notebooks["02_train"].keys() <= {"run_name", "overwrite", "photo_curve"}  # 02's training defaults
    with pytest.raises(ConfigError) as failure:  # until local_dir names the user's copy of AVA
        load(ROOT / "configs" / "ava.yaml")
    assert "1 problem(s)" in str(failure.value) and "local_dir /data/AVA_dataset is not a folder" in str(failure.value)
    data = yaml.safe_load((ROOT / "configs" / "ava.yaml").read_text())
    data["notebooks"]["01_ava_download_cleanup"]["source"] = "demo"  # the same config on data that exists
    ava = parse(data)
    assert ava.notebooks["01_ava_download_cleanup"]["split_scheme"] == "official"


@pytest.mark.notebook
@pytest.mark.browser
def test_browser_opens_the_index_and_every_page(sweep, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    reports, result, _ = sweep
    out = reports / "tiny"
    pages = ["index.html", *[s["html"] for s in result["steps"]], "../index.html"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.route("http*://**", lambda route: route.abort())  # offline: the pages must not need the network
        for name in pages:
            page.goto((out / name).resolve().as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate("[...document.images].map(i => [i.complete && i.naturalWidth > 0, i.alt])")
            assert all(ok for ok, _ in images), (name, images)
            errors = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count()
            assert errors == 0, name
            page.screenshot(path=str(tmp_path / (Path(name).stem + ".png")), full_page=True)
        page.goto((out / "index.html").as_uri())
        assert page.locator("img").count() >= 9  # sweep plot + key figures of 01, both 02s and 03s, 04
        assert page.locator('a[href="01_ava_download_cleanup.html"]').count() == 1
        browser.close()
