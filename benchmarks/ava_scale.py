"""Cost of every stage as the work grows, on an AVA-shaped dataset made offline (benchmarks/ava_synthetic.py):
label parsing and statistics (always the full 255,530 rows), cleanup, splits, the training cache build,
one epoch of the tf.data reader on the cache, notebook 03's prediction and bootstrap on the test split,
scoring a folder; and the bootstrap alone on 20,000 and 255,000 rows.

Each N runs in its own process (so peak memory is that size's alone); a stage's peak is the process's
peak resident memory during it (Linux: /proc/self/clear_refs resets it). Prints a table, the growth
between sizes (time ~ N^b), and a projection of each stage to AVA's 255,530 images.

    python benchmarks/ava_scale.py                       # N = 2,000, 8,000 and 32,000
    python benchmarks/ava_scale.py --sizes 2000,8000,128000 --work /big/disk/ava-scale
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ava_synthetic import AVA_ROWS, TEST_LIST, make_images, write_labels  # noqa: E402

FULL_TEST = TEST_LIST  # AVA's official test list: notebook 03 predicts 20,000 images
CPU_STAGES = ("cleanup", "cache build", "cache read")  # decode-bound, threaded: scale with cores


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) // 1024  # MiB


def measure(rows: list[dict], stage: str, items: int, fn: Callable[[], Any]) -> Any:
    """Run fn, append {stage, items, seconds, peak_mib, added_mib} to rows; returns fn's result."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident size to the current one
    before = _status("VmRSS")
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = _status("VmHWM")
    rows.append({"stage": stage, "items": items, "seconds": round(seconds, 3), "peak_mib": peak,
                 "added_mib": peak - before})
    print(f"  {stage:14s} {items:8d} items {seconds:9.2f} s  peak {peak} MiB (+{peak - before})", flush=True)
    return out


def _engine(quick: bool, tmp: Path):
    from benchmarks.score_throughput import bench_weights
    from nima_utils.model.card import ModelCard
    from nima_utils.model.engine import load_engine
    from nima_utils.model.network import build_from_card
    from nima_utils.model.weights import save_nima

    if quick:  # the smoke test: a tiny random model
        card = ModelCard(alpha=0.25, input_size=64, resize="bilinear", training_data="none (benchmark)")
        return load_engine(save_nima(build_from_card(card), tmp / "tiny.weights.h5", card))
    return load_engine(bench_weights(None, tmp))


def one_size(n: int, work: Path, quick: bool, resamples: int, label_rows: int = AVA_ROWS) -> list[dict]:
    """Every stage at N images, in this process."""
    import pandas as pd

    from nima_utils.data.ava import distributions, read_ava_txt
    from nima_utils.data.cache import build_cache, training_dataset
    from nima_utils.data.cleanup import clean_labels
    from nima_utils.data.label_stats import label_stats
    from nima_utils.data.splits import make_split, write_split
    from nima_utils.data.summary import DataSummary
    from nima_utils.images import scan_images
    from nima_utils.scoring import score_images
    from nima_utils.study import evaluate, evaluation_metrics

    labels_path, test_path, order = write_labels(work / f"labels-{label_rows}", rows=label_rows)
    images = work / "images"
    make_images(images, order, n)
    run = work / f"run-{n}"
    shutil.rmtree(run, ignore_errors=True)
    (run / "folder").mkdir(parents=True)
    for i in order[:n]:  # a folder of exactly these N images, for `nima score`
        (run / "folder" / f"{i}.jpg").symlink_to(images / f"{i}.jpg")
    rows: list[dict] = []
    print(f"N = {n:,} ({os.cpu_count()} CPUs)", flush=True)

    def labels():
        parsed = read_ava_txt(labels_path)
        return parsed.table, label_stats(parsed.table)

    table, _ = measure(rows, "labels", label_rows, labels)
    mine = table.loc[[str(i) for i in order[:n]]]
    cleaned = measure(rows, "cleanup", n, lambda: clean_labels(mine, images, progress=False))
    test_list = test_path.read_text().split()

    def splits():
        parts = make_split(cleaned.clean, "official", test_list)
        write_split(parts, cleaned.clean, run / "splits", "official", 0)
        return parts

    parts = measure(rows, "splits", len(cleaned.clean), splits)
    train = cleaned.clean.loc[parts["train"]]
    cache = run / "cache"
    measure(rows, "cache build", len(train), lambda: build_cache(train, images, cache, "train", progress=False))

    def read_epoch() -> int:
        ds, _ = training_dataset(cache, "train", batch_size=32, crop=224)
        return sum(int(x.shape[0]) for x, _ in ds)

    measure(rows, "cache read", len(train), read_epoch)
    with tempfile.TemporaryDirectory() as tmp:
        engine = _engine(quick, Path(tmp))
        test = pd.read_csv(run / "splits" / "test.csv", dtype={"image_id": str})
        data = DataSummary(run, "synthetic", "official", images, run / "splits", None, None)
        predictions, _ = measure(rows, "predict (03)", len(test),
                                 lambda: evaluate.predict_split(test, data, "test", engine))
        train_true = distributions(train)
        measure(rows, "bootstrap (03)", len(test),
                lambda: evaluation_metrics.evaluate_split(predictions, train_true, n_resamples=resamples))
        files = scan_images([run / "folder"]).files
        measure(rows, "score folder", len(files), lambda: sum(1 for _ in score_images(files, engine)))
    shutil.rmtree(run, ignore_errors=True)
    return rows


def bootstrap_only(n: int, resamples: int) -> list[dict]:
    """Notebook 03's bootstrap (model, trivial baseline, majority class) on n synthetic rows."""
    import numpy as np

    from nima_utils.study import evaluate, evaluation_metrics

    rng = np.random.default_rng(0)
    true = rng.dirichlet(np.ones(10) * 3, n)
    pred = np.clip(true + rng.normal(0, 0.02, true.shape), 1e-6, None)
    pred /= pred.sum(axis=1, keepdims=True)
    predictions = evaluate.Predictions([str(i) for i in range(n)], pred, true, {}, "images", 0.0)
    rows: list[dict] = []
    measure(rows, "bootstrap only", n,
            lambda: evaluation_metrics.evaluate_split(predictions, true, n_resamples=resamples))
    return rows


def _child(args: list[str]) -> list[dict]:
    """Run this script on one size in a fresh process; its result rows."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, *args, "--json", out.name], check=True)
        return json.loads(Path(out.name).read_text())


def projection(stage: str, rows: list[dict], cores: int, target_cores: int) -> tuple[float, float, float]:
    """(growth exponent b between the two largest sizes, seconds at 255,530 images here, and on target_cores)."""
    rows = sorted(rows, key=lambda r: r["items"])
    last = rows[-1]
    b = float("nan")
    if len(rows) > 1 and rows[-1]["items"] > rows[-2]["items"] and rows[-2]["seconds"] > 0:
        b = math.log(last["seconds"] / rows[-2]["seconds"]) / math.log(last["items"] / rows[-2]["items"])
    full = {"labels": AVA_ROWS, "predict (03)": FULL_TEST, "bootstrap (03)": FULL_TEST}.get(stage)
    if full is None:  # a share of the images: scale by the images of this stage at N = 255,530
        full = last["items"] * AVA_ROWS / last["n"]
    here = last["seconds"] * full / last["items"]  # linear from the largest size (b says whether it holds)
    there = here * cores / target_cores if stage in (*CPU_STAGES, "score folder", "predict (03)") else here
    return b, here, there


def report(rows: list[dict], boot: list[dict], cores: int, target_cores: int) -> None:
    sizes = sorted({r["n"] for r in rows})
    print("\nstage            " + "".join(f"{'N=' + format(n, ','):>22s}" for n in sizes)
          + "     b   at 255,530 here  on 16 cores")
    for stage in dict.fromkeys(r["stage"] for r in rows):
        mine = [r for r in rows if r["stage"] == stage]
        cells = "".join(f"{r['seconds']:9.1f} s {r['peak_mib']:6d} MiB " for r in sorted(mine, key=lambda r: r["n"]))
        b, here, there = projection(stage, mine, cores, target_cores)
        print(f"{stage:16s} {cells} {b:5.2f} {here / 60:11.1f} min {there / 60:9.1f} min")
    for r in boot:
        print(f"bootstrap alone on {r['items']:,} rows: {r['seconds']:.1f} s, peak {r['peak_mib']} MiB "
              f"(+{r['added_mib']})")
    print(f"b: time ~ N^b between the two largest sizes (1 = linear). Projections are linear from the largest N; "
          f"16 cores: decode-bound stages x {cores}/{target_cores}, the model stages assuming a GPU keeps up "
          "with 16 decoding cores.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,8000,32000", help="comma-separated N (default 2000,8000,32000)")
    parser.add_argument("--bootstrap-rows", default="20000,255000")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--work", type=Path, help="where images are made and kept (default: a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny sizes and a tiny model")
    parser.add_argument("--out", type=Path, help="also write every row as JSON here (after each size)")
    parser.add_argument("--report", type=Path, help="print the table of a JSON written by --out; run nothing")
    parser.add_argument("--label-rows", type=int, default=AVA_ROWS, help=argparse.SUPPRESS)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one or args.bootstrap:
        rows = (one_size(args.one, args.work, args.quick, args.resamples, args.label_rows) if args.one
                else bootstrap_only(args.bootstrap, args.resamples))
        args.json.write_text(json.dumps(rows))
        return
    if args.report:
        saved = json.loads(args.report.read_text())
        report(saved["rows"], saved["bootstrap"], saved["cpus"], 16)
        return
    if args.quick:
        args.sizes, args.bootstrap_rows, args.resamples, args.label_rows = "48", "500", 100, 5000
    cores = os.cpu_count() or 1
    rows: list[dict] = []
    boot: list[dict] = []

    def save() -> None:  # after every size: a long run stopped early keeps what it measured
        if args.out:
            args.out.write_text(json.dumps({"cpus": cores, "rows": rows, "bootstrap": boot}, indent=1) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        common = ["--work", str(work), "--resamples", str(args.resamples), "--label-rows", str(args.label_rows),
                  *(["--quick"] if args.quick else [])]
        for n in map(int, args.bootstrap_rows.split(",")):
            boot += _child(["--bootstrap", str(n), *common])
        for n in map(int, args.sizes.split(",")):
            rows += [{**r, "n": n} for r in _child(["--one", str(n), *common])]
            save()
    report(rows, boot, cores, 16)

if __name__ == "__main__":
    main()
