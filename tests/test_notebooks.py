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
