"""Notebooks as papermill jobs: parameters in, figures read back from their JSON and asserted.
(nbval separately runs every notebook with its defaults.)"""

import json
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run(name, tmp_path, **parameters):
    out = tmp_path / name
    pm.execute_notebook(NOTEBOOKS / name, out, parameters=parameters, cwd=str(NOTEBOOKS), progress_bar=False,
                        kernel_name="python3")
    return out


@pytest.mark.parametrize(("scheme", "limit"), [("official", 0), ("paper", 200)])
def test_01_ava_pipeline_on_demo(tmp_path, scheme, limit):
    report = tmp_path / "report"
    run("01_ava_download_cleanup.ipynb", tmp_path, data_dir=str(tmp_path / "data"), report_dir=str(report),
        split_scheme=scheme, limit=limit, workers=2)
    figures = json.loads((report / "summary.json").read_text())
    assert figures["download"] == {"downloaded": 3, "already_present": 0, "failed": 0}
    used = figures["labels"]["used"]
    assert used == (limit or figures["labels"]["images"])
    cleanup = figures["cleanup"]
    if not limit:  # the broken files are the last ids of the demo
        assert cleanup["reasons"] == {"truncated": 1, "not an image": 1, "empty": 1, "too small": 1, "missing": 1}
    assert cleanup["clean"] + cleanup["quarantined"] == used
    splits = figures["splits"]
    assert splits["train"] + splits["val"] + splits["test"] == cleanup["clean"]
    if scheme == "official":
        assert splits["test"] == 63  # 3 whole photos, all their versions
    cache = figures["cache"]
    assert (cache["train"], cache["val"], cache["test"]) == (splits["train"], splits["val"], splits["test"])
    assert 2.0 < figures["label_stats"]["mean_score_mean"] < 7.0
    assert (report / "quarantine.csv").exists() and (report / "label_stats.png").exists()


@pytest.fixture(scope="module")
def demo_summary(tmp_path_factory):
    """Notebook 01 on the demo data, once for the notebooks that read its summary.json."""
    tmp = tmp_path_factory.mktemp("nb01")
    run("01_ava_download_cleanup.ipynb", tmp, data_dir=str(tmp / "data"), report_dir=str(tmp / "report"))
    return tmp / "report" / "summary.json"


def test_02_train_defaults_beat_the_trivial_baseline(demo_summary, tmp_path, imagenet_cache):
    report = tmp_path / "report"
    run("02_train.ipynb", tmp_path, data_summary=str(demo_summary), report_dir=str(report),
        weights_dir=str(tmp_path / "weights"))
    figures = json.loads((report / "summary.json").read_text())
    model, baseline = figures["validation"]["model"], figures["validation"]["baseline (training mean distribution)"]
    assert model["emd"] <= 0.85 * baseline["emd"]  # at least 15% lower
    assert model["srcc_mean"] >= 0.5
    assert figures["head_epochs_run"] == 300 and figures["epochs_run"] == 2
    assert Path(figures["weights"]).is_file() and (report / "learning_curves.png").is_file()
    card = json.loads(Path(figures["weights"]).with_name("nima.card.json").read_text())
    assert (card["resize_size"], card["input_size"], card["training"]["schedule"]) == (256, 224, "two-phase")


def test_02_train_bad_parameters_fail_before_any_work(demo_summary, tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as info:
        run("02_train.ipynb", tmp_path, data_summary=str(demo_summary), report_dir=str(tmp_path / "report"),
            weights_dir=str(tmp_path / "weights"), schedule="fast", batch_size=0)
    assert "schedule must be one of" in str(info.value) and "batch_size must be" in str(info.value)
    assert not (tmp_path / "report").exists() and not (tmp_path / "weights").exists()
