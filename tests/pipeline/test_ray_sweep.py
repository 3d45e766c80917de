"""`nima pipeline --ray` on a local Ray: a two-variant grid whose variants run as Ray tasks, one of them
failing at run time (a corrupt initial weights file the config check cannot see into), the same index
and pipeline.json as the sequential run of the same config, and a one-line error without Ray."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from nima_utils.cli import main
from nima_utils.pipeline import run as pipeline
from nima_utils.pipeline.config import parse
from tests.pipeline.test_pipeline import tiny_config

ray = pytest.importorskip("ray")


def _config(tmp: Path, weights: Path) -> dict:
    """The tiny sweep without 04/05 and with one head epoch; variant 2 starts from a file that is no weights."""
    bad = tmp / "corrupt.h5"
    bad.write_bytes(b"not an HDF5 file")
    config = tiny_config(tmp, weights, grid={"initial_weights": ["none", str(bad)]})
    blocks = config["notebooks"]
    for name in ("04_sensitivity", "05_explore"):
        blocks.pop(name)
    blocks["02_train"].pop("initial_weights")
    blocks["02_train"].update(head_epochs=2, epochs=1)
    blocks["03_evaluate"].update(bootstrap=0)
    return config


@pytest.fixture(scope="module")
def both(tmp_path_factory, lively_weights):
    """The same config run sequentially and on a local Ray (two CPUs: both variants at once)."""
    tmp = tmp_path_factory.mktemp("ray-sweep")
    runs = {}
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token written into the home folder
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    try:
        for mode, address in (("sequential", None), ("ray", "auto")):
            lines: list[str] = []
            config = parse({**_config(tmp, lively_weights), "track": False})
            config.notebooks["02_train"]["weights_dir"] = str(tmp / mode / "weights")  # one training run each
            start = time.monotonic()
            with pytest.raises(pipeline.PipelineError) as failure:
                pipeline.run(config, tmp / mode, echo=lines.append, ray=address)
            runs[mode] = (tmp / mode / "tiny", str(failure.value), lines, time.monotonic() - start)
    finally:
        ray.shutdown()
    return runs


@pytest.mark.notebook
def test_ray_sweep_matches_the_sequential_run(both):
    seq, on_ray = (json.loads((both[m][0] / "pipeline.json").read_text()) for m in ("sequential", "ray"))
    print({m: round(r[3], 1) for m, r in both.items()})  # wall seconds, for docs/pipeline.md
    steps = [(s["notebook"], s["variant"], s["status"]) for s in seq["steps"]]
    assert steps == [(s["notebook"], s["variant"], s["status"]) for s in on_ray["steps"]]
    assert steps == [("01_ava_download_cleanup", "", "ok"), ("02_train", "initial_weights-none", "ok"),
                     ("03_evaluate", "initial_weights-none", "ok"), ("02_train", seq["variants"][1]["name"], "failed")]
    assert [v["name"] for v in seq["variants"]] == [v["name"] for v in on_ray["variants"]]
    for mode, saved in (("sequential", seq), ("ray", on_ray)):
        out = both[mode][0]
        good = saved["variants"][0]
        assert good["train"]["run"] == "tiny-initial_weights-none"
        metrics = json.loads((out / good["name"] / "03_evaluate" / "metrics.json").read_text())
        assert good["test"]["metrics"]["model"]["emd"]["value"] == metrics["model"]["emd"]["value"]
        assert good["test"]["weights"] == str(Path(good["train"]["weights"]).resolve())
        assert str(out.parent / "weights") in good["train"]["weights"]
        index = (out / "index.html").read_text()
        for step in saved["steps"]:
            assert (out / step["html"]).is_file() and f'href="{step["html"]}"' in index
        assert saved["status"] == "failed" and index.count("<p class=failed>variant ") == 1
    lines = both["ray"][2]
    assert sum(" ok in " in line for line in lines) == 3 and sum("FAILED" in line for line in lines) == 1
    assert any(line.startswith("on Ray: 2 variant task(s), a CPU each") for line in lines)


@pytest.mark.notebook
def test_failed_variant_is_named_and_the_other_finishes(both):
    for mode in ("sequential", "ray"):
        out, message, _, _ = both[mode]
        saved = json.loads((out / "pipeline.json").read_text())
        bad = saved["variants"][1]
        assert "test" not in bad and "train" not in bad and bad["failure"]["notebook"] == "02_train"
        assert saved["variant_failures"] == [bad["failure"]] and saved["failure"] is None
        assert len(message.splitlines()) == 1
        assert message.startswith(f"variant {bad['name']}: notebook 02_train failed in cell ")
        assert bad["failure"]["error"].split(":")[0] in message and str(out / bad["failure"]["html"]) in message
        assert (out / bad["name"] / "02_train.html").is_file()  # the partial page is kept
        assert saved["variants"][0]["test"]["metrics"]["model"]["emd"]["value"] > 0


def test_without_ray_installed_one_line_error(monkeypatch, capsys, tmp_path, lively_weights):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    path = tmp_path / "sweep.yaml"
    path.write_text(json.dumps(_config(tmp_path, lively_weights)))
    assert main(["pipeline", str(path), "--ray", "--reports", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert "the ray extra" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "reports").exists()
