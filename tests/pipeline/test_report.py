"""The run index and the overview of runs, written from small hand-made pipeline results."""

import json

from nima_utils.pipeline import report

PROVENANCE = {"git_commit": "abc123", "git_dirty": False, "versions": {"python": "3.11"}, "platform": "Linux"}


def _ranking(n):
    return [{"rank": i + 1, "perturbation": f"edit{i}", "kind": "photo edit", "range": 1.0 / (i + 1),
             "mean_abs_change": 0.1} for i in range(n)]


def _result(tmp_path, emd=0.2383, baseline=0.1148):
    (tmp_path / "01_ava_download_cleanup").mkdir()
    (tmp_path / "01_ava_download_cleanup" / "label_stats.png").write_bytes(b"png")
    test = {"n_images": 63, "split": "test", "data_source": "demo", "synthetic_labels": True, "weights": "/w/x.h5",
            "metrics": {"model": {"emd": {"value": emd, "low": emd - 0.01, "high": emd + 0.01}},
                        "trivial_baseline": {"emd": baseline}, "majority_class": {}}}
    train = {"best_epoch": "head 244", "best_val_emd": 0.08383313566446304, "wall_seconds": 60.0,
             "backend": "tensorflow", "device": "CPU",
             "validation": {"model": {"emd": 0.0838}, "baseline (training mean distribution)": {"emd": 0.1201}}}
    sensitivity = {"ranking": _ranking(9), "images": {"n": 3, "source": "the test split: 3 source photos"},
                   "weights": {"path": "/w/idealo.hdf5", "why": "idealo's"},
                   "left_out": {"saturation": "changes none of the 3 photos at any factor (every photo is grey)"}}
    steps = [{"notebook": nb, "variant": "", "status": "ok", "report_dir": nb, "html": f"{nb}.html",
              "ipynb": f"{nb}.ipynb", "log": f"logs/{nb}.log", "seconds": 1.0, "summary": summary}
             for nb, summary in (("01_ava_download_cleanup", {}), ("04_sensitivity", sensitivity))]
    return {"run": "demo", "description": "d", "status": "ok", "started": "2026-12-03T12:00:00", "seconds": 2.0,
            "config": None, "provenance": PROVENANCE, "steps": steps,
            "variants": [{"name": "", "overrides": {}, "train": train, "test": test}]}


def test_run_index_shows_whole_tables_baselines_and_captions_in_words(tmp_path):
    page = report.write_run(tmp_path, _result(tmp_path)).read_text()
    sensitivity = page.split("<h2>Sensitivity</h2>")[1].split("</table>")[0]
    assert sensitivity.count("<tr>") == 10 and "edit8" in sensitivity  # the header and all 9 rows
    assert "All 9 edits and input settings" in sensitivity and "Left out: saturation, which changes none" in page
    assert "validation EMD 0.0838 (trivial baseline 0.1201)" in page
    provenance = page.split("<h2>Provenance</h2>")[1].split("</table>")[0]
    assert "<th>" not in provenance and "<td>git commit</td>" in provenance
    assert "<figcaption>01 · data: the labels: mean score per image" in page
    assert "label_stats.png</figcaption>" not in page


def test_overview_puts_the_trivial_baseline_beside_the_best_test_emd(tmp_path):
    run = tmp_path / "demo"
    run.mkdir()
    (run / "pipeline.json").write_text(json.dumps(_result(run)))
    page = report.write_overview(tmp_path).read_text()
    assert "<th>its trivial baseline</th>" in page
    assert "<td>0.2383</td><td>0.1148</td>" in page


def test_every_key_figure_has_a_caption_in_words():
    """The index captions each copied figure with what it shows, never with its file name."""
    names = [name for figures in report.KEY_FIGURES.values() for name in figures]
    assert names and not [name for name in names if name not in report.CAPTIONS]
