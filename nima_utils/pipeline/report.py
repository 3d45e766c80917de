"""The pipeline's index pages: reports/<run>/index.html (headline metrics, key figures, sweep
comparison, links, provenance) and reports/index.html (every run)."""

from __future__ import annotations

import contextlib
import html
import importlib.metadata
import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

KEY_FIGURES = {
    "01_ava_download_cleanup": ("label_stats.png",),
    "02_train": ("learning_curves.png", "photo_curve.png"),
    "03_evaluate": ("mean_scatter.png", "confusion.png", "best_and_worst.png"),
    "04_sensitivity": ("contrast.png", "perturbations.png"),
    "05_explore": ("settings.png", "saliency.png"),
}
CAPTIONS = {
    "label_stats.png": "the labels: mean score per image, votes per image, and the spread of votes against the mean",
    "learning_curves.png": "training and validation EMD by epoch (the dashed line marks the epoch kept), and the "
                           "learning rates of the base and the head",
    "photo_curve.png": "validation EMD of the head on frozen features against the number of training photos "
                       "(grouped folds, never the test photos), with the trivial baseline",
    "mean_scatter.png": "predicted against human mean score, one point per test image",
    "confusion.png": "accepted or rejected at 5.0 and 5.1: human against predicted",
    "best_and_worst.png": "the test images with the highest and lowest predicted mean scores",
    "contrast.png": "contrast: the mean score of each photo and their average (95% interval over photos), and "
                    "the change from the unedited photo",
    "perturbations.png": "every edit: the change in mean score from the unedited photo (grey: photos; red: their "
                         "average with its 95% interval over photos)",
    "settings.png": "one photo at a few fixed slider settings (edits and resize method): the edited photo, its "
                    "predicted distribution, mean and std (the static version of notebook 05's sliders)",
    "saliency.png": "Grad-CAM maps: which regions raise the predicted mean score and the predicted chance of a "
                    "score above 5, for a few test photos",
}
"""What each key figure shows, as its caption on the index."""
TITLES = {"01_ava_download_cleanup": "01 · data", "02_train": "02 · training", "03_evaluate": "03 · evaluation",
          "04_sensitivity": "04 · sensitivity", "05_explore": "05 · exploration and saliency"}
METRICS = (("emd", "EMD (lower is better)"), ("srcc_mean", "SRCC of the mean score"),
           ("lcc_mean", "LCC of the mean score"), ("srcc_std", "SRCC of the std"), ("lcc_std", "LCC of the std"),
           ("accuracy@5.0", "accuracy at 5.0"), ("accuracy@5.1", "accuracy at 5.1"))
PACKAGES = ("nima-lab", "keras", "tensorflow", "tensorflow-cpu", "jax", "numpy", "papermill", "nbconvert")
STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1150px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;
border:1px solid #ddd;margin:.4em 0}.failed{color:#b00020;font-weight:bold}.ok{color:#1b5e20}
figure{margin:0 0 1.2em}figcaption{color:#555;font-size:90%}pre{background:#f7f7f7;padding:.6em;overflow:auto}
.note{color:#555}"""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance() -> dict[str, Any]:
    """Where the run's code and tools came from (the backend and device are in 02's summary)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if commit else None
    return {"git_commit": commit or "unknown (not a git checkout)", "git_dirty": dirty, "versions": versions,
            "platform": platform.platform(), "host": platform.node()}


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN: undefined
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _interval(m: dict[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return "—"
    if m.get("low") is None:
        return _num(m["value"])
    return f"{_num(m['value'])} <span class=note>[{_num(m['low'])}, {_num(m.get('high'))}]</span>"


def _table(header: list[str] | None, rows: list[list[str]]) -> str:
    """An HTML table; `header` None: no header row (a table of label, value rows)."""
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _copy_figures(out: Path, step: dict[str, Any]) -> list[tuple[str, str]]:
    """Copy a step's key figures next to the index; returns (relative path, caption) pairs."""
    copied = []
    for name in KEY_FIGURES.get(step["notebook"], ()):
        source = out / step["report_dir"] / name
        if source.is_file():
            prefix = f"{step['variant']}__" if step["variant"] else ""
            target = out / "figures" / f"{prefix}{step['notebook']}__{name}"
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
            copied.append((str(target.relative_to(out)), CAPTIONS.get(name, name)))
    return copied


def _metrics_table(test: dict[str, Any]) -> str:
    metrics = test.get("metrics", {})
    rows = [[label, _interval(metrics.get("model", {}).get(key)),
             _num(metrics.get("trivial_baseline", {}).get(key)), _num(metrics.get("majority_class", {}).get(key))]
            for key, label in METRICS]
    return _table(["metric", "model (95% bootstrap interval)", "trivial baseline", "majority class"], rows)


def _sweep(out: Path, variants: list[dict[str, Any]]) -> str:
    """The comparison table of a grid's variants and a plot of their test EMD with intervals."""
    keys = list(variants[0]["overrides"])
    rows, plotted = [], []
    for v in variants:
        train, test = v.get("train", {}), v.get("test", {}).get("metrics", {})
        model = test.get("model", {})
        rows.append([_e(v["name"]), *(_e(v["overrides"][k]) for k in keys), _num(train.get("best_val_emd")),
                     _interval(model.get("emd")), _interval(model.get("srcc_mean")), _interval(model.get("lcc_mean")),
                     _interval(model.get("accuracy@5.0")), _num(train.get("wall_seconds"), 0)])
        if model.get("emd"):
            plotted.append((v["name"], model["emd"], test.get("trivial_baseline", {}).get("emd")))
    table = _table(["variant", *map(_e, keys), "best val. EMD", "test EMD", "test SRCC (mean)", "test LCC (mean)",
                    "accuracy at 5.0", "training s"], rows)
    if not plotted:
        return table
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(plotted) + 2), 3.6))
    names = [p[0] for p in plotted]
    values = [p[1]["value"] for p in plotted]
    errors = [[p[1]["value"] - (p[1]["low"] if p[1]["low"] is not None else p[1]["value"]) for p in plotted],
              [(p[1]["high"] if p[1]["high"] is not None else p[1]["value"]) - p[1]["value"] for p in plotted]]
    ax.bar(range(len(names)), values, yerr=errors, capsize=4, color="#4c72b0")
    baseline = plotted[0][2]
    if baseline is not None:
        ax.axhline(baseline, color="k", ls="--", lw=1, label="trivial baseline")
        ax.legend(loc="lower right")
    ax.set_xticks(range(len(names)), names, rotation=15, ha="right", fontsize=8)
    ax.set(ylabel="test EMD (95% interval)", title="test EMD by variant (lower is better)")
    fig.tight_layout()
    (out / "figures").mkdir(exist_ok=True)
    fig.savefig(out / "figures" / "sweep.png", dpi=100)
    plt.close(fig)
    return table + '<figure><img src="figures/sweep.png" alt="test EMD by variant"></figure>'


def _ranking(ranking: dict[str, Any] | None) -> str:
    """The SRCC of the mean within each unseen photo (group) and pooled, where notebook 03 measured it."""
    if not ranking or ranking.get("within_group_srcc_mean") is None:
        return ""
    return (f"<p>SRCC of the mean score within a photo {_num(ranking['within_group_srcc_mean'], 2)} on average over "
            f"{_e(ranking.get('n_groups'))} photos never seen in training; pooled over all images "
            f"{_num(ranking.get('pooled_srcc_mean'), 2)}</p>")


def _verdict(metrics: dict[str, Any]) -> str:
    """The test EMD against the trivial baseline in words, by the paired bootstrap interval of the difference."""
    diff = (metrics.get("paired_differences") or {}).get("emd") or {}
    if diff.get("value") is None:
        return ""
    value, low, high = diff["value"], diff.get("low"), diff.get("high")
    if low is None or high is None:
        words = "lower than" if value < 0 else "not lower than"
        interval = " (no bootstrap interval)"
    else:
        words = "better than" if high < 0 else "worse than" if low > 0 else "not distinguishable from"
        interval = f" [{low:+.3f}, {high:+.3f}]"
    return (f"<p><b>Test EMD {words} the trivial baseline</b>: model minus baseline {value:+.3f}{interval} "
            "<span class=note>(paired bootstrap, 95% interval; negative is better)</span></p>")


def _photo_curve(curve: dict[str, Any] | None, page: str | None) -> str:
    """Notebook 02's photo curve in one line, with a link to its page."""
    if not curve or not curve.get("finding"):
        return ""
    link = f' (<a href="{_e(page)}#5.-How-the-error-depends-on-the-number-of-training-photos">notebook 02</a>)' \
        if page else ""
    return f"<p>More photos: {_e(curve['finding'])}{link}</p>"


def _headline(out: Path, result: dict[str, Any]) -> str:
    parts = []
    variants = result.get("variants", [])
    pages = {s["variant"]: s.get("html") for s in result.get("steps", []) if s["notebook"] == "02_train"}
    if len(variants) > 1:
        parts.append("<h2>Sweep: variants compared</h2>" + _sweep(out, variants))
    for v in variants:
        title = f" · variant {_e(v['name'])}" if v["name"] else ""
        if v.get("test"):
            t = v["test"]
            photos = (t.get("ranking") or {}).get("n_groups")
            parts.append(f"<h2>Test metrics{title}</h2><p class=note>{_e(t.get('n_images'))} images"
                         + (f" of {_e(photos)} photos never seen in training" if photos else "")
                         + f" (the {_e(t.get('split'))} split of {_e(t.get('data_source'))})"
                         + (", <b>synthetic labels</b>: they grade edits of real photos, not taste, and are not "
                            "comparable with published AVA figures" if t.get("synthetic_labels") else "")
                         + f"; weights {_e(Path(str(t.get('weights', ''))).name)}</p>"
                         + _verdict(t.get("metrics", {})) + _ranking(t.get("ranking")) + _metrics_table(t))
        if v.get("train"):
            tr = v["train"]
            val = tr.get("validation", {})
            rows = [[_e(name), _num(m.get("emd")), _num(m.get("srcc_mean")), _num(m.get("accuracy@5.0"))]
                    for name, m in val.items()]
            baseline = next((m.get("emd") for name, m in val.items() if name.startswith("baseline")), None)
            parts.append(f"<h3>Training{title}</h3><p>best {_e(tr.get('best_epoch'))}, validation EMD "
                         f"{_num(tr.get('best_val_emd'))} (trivial baseline {_num(baseline)}), "
                         f"{_num(tr.get('wall_seconds'), 0)} s on "
                         f"{_e(tr.get('backend'))} / {_e(tr.get('device'))}</p>"
                         + _table(["validation", "EMD", "SRCC (mean)", "accuracy at 5.0"], rows)
                         + _photo_curve(tr.get("photo_curve"), pages.get(v["name"])))
    return "".join(parts)


def _sensitivity(summary: dict[str, Any]) -> str:
    """Notebook 04's whole ranking (every edit and input setting), its photos and weights, and what it left out."""
    ranking = summary.get("ranking", [])
    rows = [[_e(r.get("rank")), _e(r.get("perturbation")), _e(r.get("kind", "")), _num(r.get("range"), 3),
             _num(r.get("mean_abs_change"), 3)] for r in ranking]
    weights, images = summary.get("weights", {}), summary.get("images", {})
    note = (f"{_e(images.get('n'))} photos ({_e(images.get('source', ''))}); weights "
            f"{_e(Path(str(weights.get('path', ''))).name)} ({_e(weights.get('why'))}). All {len(rows)} edits and "
            "input settings studied, ranked by the range of the mean score: its highest minus its lowest mean over the "
            "levels of the edit, averaged over photos. Mean |change| is the average size of each photo's change from "
            "its unedited version; it can order the edits differently (photos moving in opposite directions add "
            "to it but cancel in the average's range).")
    left_out = summary.get("left_out") or {}
    if left_out:
        note += " Left out: " + "; ".join(f"{_e(name)}, which {_e(why)}" for name, why in left_out.items()) + "."
    return (f"<h2>Sensitivity</h2><p class=note>{note}</p>"
            + _table(["rank (by range)", "edit or input setting", "kind", "range of the mean score over levels",
                    "mean |change| from the unedited photo"], rows))


def write_run(out: Path, result: dict[str, Any]) -> Path:
    """reports/<run>/index.html from what pipeline.json holds (a failed run shows where it stopped)."""
    status = result["status"]
    head = (f"<h1>NIMA Lab pipeline: {_e(result['run'])}</h1><p>{_e(result.get('description', ''))}</p>"
            f"<p>status: <span class={'ok' if status == 'ok' else 'failed'}>{_e(status)}</span>; started "
            f"{_e(result['started'])}; {_num(float(result.get('seconds') or 0), 0)} s of notebooks; config "
            f"<code>{_e(result.get('config'))}</code></p>")
    failures = [result["failure"]] if result.get("failure") else []
    failures += [f for f in result.get("variant_failures", []) if f != result.get("failure")]
    for f in failures:
        where = f"cell {f['cell']} (<code>{_e(f['line'])}</code>)" if f.get("cell") is not None else "before any cell"
        variant = f"variant {_e(f['variant'])}: " if f.get("variant") else ""
        head += (f"<p class=failed>{variant}notebook {_e(f['notebook'])} failed in {where}: {_e(f['error'])}. Its "
                 f"partial output: <a href=\"{_e(f.get('html', ''))}\">{_e(f.get('html', ''))}</a></p>")
    body = _headline(out, result)
    for step in result["steps"]:
        if step["notebook"] == "04_sensitivity" and step.get("summary"):
            body += _sensitivity(step["summary"])
    figures = []
    for step in result["steps"]:
        if step.get("status") != "ok":
            continue
        label = TITLES[step["notebook"]] + (f" · {step['variant']}" if step["variant"] else "")
        for path, caption in _copy_figures(out, step):
            figures.append(f'<figure><img src="{_e(path)}" alt="{_e(caption)}"><figcaption>{_e(label)}: '
                           f'{_e(caption)}</figcaption></figure>')
    if figures:
        body += "<h2>Key figures</h2>" + "".join(figures)
    pages = [[_e(TITLES[s["notebook"]] + (f" · {s['variant']}" if s["variant"] else "")),
              f"<span class={'ok' if s['status'] == 'ok' else 'failed'}>{_e(s['status'])}</span>",
              _num(s.get("seconds"), 1), f'<a href="{_e(s["html"])}">page</a>',
              f'<a href="{_e(s["ipynb"])}">notebook</a>',
              f'<a href="{_e(s["log"])}">log</a>'] for s in result["steps"]]
    body += "<h2>Notebooks</h2>" + _table(["notebook", "status", "seconds", "HTML", "executed", "full log"], pages)
    prov = result["provenance"]
    train = next((v["train"] for v in result.get("variants", []) if v.get("train")), {})
    rows = [["git commit", _e(prov["git_commit"]) + (" (uncommitted changes)" if prov.get("git_dirty") else "")],
            ["backend / device", _e(f"{train.get('backend', '—')} / {train.get('device', '—')}")],
            ["platform", _e(prov.get("platform"))],
            ["versions", _e(", ".join(f"{k} {v}" for k, v in prov["versions"].items()))]]
    body += "<h2>Provenance</h2>" + _table(None, rows)
    if result.get("config_text"):
        body += f"<h3>Config</h3><pre>{_e(result['config_text'])}</pre>"
    body += ("<p class=note>Machine-readable: <a href=\"pipeline.json\">pipeline.json</a>. All runs: "
             "<a href=\"../index.html\">reports/index.html</a>. Reports on the real AVA show AVA photographs: "
             "keep them on your machine, as AVA's authors ask.</p>")
    page = out / "index.html"
    page.write_text(_document(f"NIMA Lab · {result['run']}", head + body), encoding="utf-8")
    return page


def _document(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def _best_test_emd(run: dict[str, Any]) -> tuple[float | None, float | None]:
    """A run's lowest test EMD over its variants, and the trivial baseline's EMD on the same test split."""
    tests = [v["test"]["metrics"] for v in run.get("variants", [])
             if v.get("test", {}).get("metrics", {}).get("model", {}).get("emd")]
    if not tests:
        return None, None
    best = min(tests, key=lambda m: m["model"]["emd"]["value"])
    return best["model"]["emd"]["value"], best.get("trivial_baseline", {}).get("emd")


def write_overview(root: Path) -> Path:
    """reports/index.html: every run folder that holds a pipeline.json, newest first."""
    runs = []
    for path in sorted(root.glob("*/pipeline.json")):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    runs.sort(key=lambda r: r.get("started", ""), reverse=True)
    rows = []
    for r in runs:
        best, baseline = _best_test_emd(r)
        rows.append([f'<a href="{_e(r["run"])}/index.html">{_e(r["run"])}</a>', _e(r.get("description", "")),
                     f"<span class={'ok' if r['status'] == 'ok' else 'failed'}>{_e(r['status'])}</span>",
                     _e(r.get("started", "")), _num(r.get("seconds"), 0), _e(len(r.get("variants", [])) or "—"),
                     _num(best), _num(baseline)])
    body = ("<h1>NIMA Lab pipeline runs</h1>"
            + _table(["run", "description", "status", "started", "seconds", "variants", "best test EMD",
                      "its trivial baseline"], rows))
    page = root / "index.html"
    page.write_text(_document("NIMA Lab · pipeline runs", body), encoding="utf-8")
    return page
