"""Images/s for `nima score --ray` on one machine against plain `nima score`, the same JPEGs, one run each.

Both times include loading the model (plain: once; Ray: once for the card, once per actor), so the
ratio is what a user sees. Ray itself is started first and its start is printed apart. Goal: Ray's
overhead on one machine at most 20% (ratio >= 0.8). Then the Ray run with 1 and 2 model actors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster: no token in the home folder
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.score_throughput import bench_weights, make_jpegs
from nima_utils.model.engine import load_engine
from nima_utils.scoring import score_images


class Clock:
    """When rows arrive: the rate over the whole run (model load included) and after the first batch
    (the steady state a long job runs at, once its model is loaded)."""

    def __init__(self) -> None:
        self.start, self.first, self.first_rows, self.done = time.perf_counter(), None, 0, 0

    def rows(self, done: int) -> None:
        if self.first is None and done:
            self.first, self.first_rows = time.perf_counter(), done
        self.done = done

    def rates(self) -> tuple[float, float]:
        end = time.perf_counter()
        return self.done / (end - self.start), (self.done - self.first_rows) / (end - self.first)


def plain_rate(paths: list[Path], weights: Path, batch_size: int) -> tuple[float, float]:
    clock = Clock()
    for done, row in enumerate(score_images(paths, load_engine(weights), batch_size=batch_size), 1):
        assert row.ok
        clock.rows(done)
    return clock.rates()


def ray_rate(folder: Path, weights: Path, out: Path, actors: int, batch_size: int) -> tuple[float, float]:
    from nima_utils.serve.ray_scoring import RayScoring, score_with_ray

    cpus = os.cpu_count() or 1
    job = RayScoring(str(weights), out, actors=actors, actor_cpus=min(1.0, cpus / (2 * actors)),
                     batch_size=batch_size)
    clock = Clock()
    rows = list(score_with_ray(job, [str(folder)], progress=lambda done, total: clock.rows(done)))
    assert all(r.ok for r in rows) and len(rows) == len(list(folder.glob("*.jpg"))) == clock.done
    return clock.rates()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--weights", type=Path, help="default: weights/ (random community model if none)")
    args = parser.parse_args()

    import ray

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = bench_weights(args.weights, tmp)
        folder = tmp / "jpegs"
        folder.mkdir()
        paths = make_jpegs(folder, args.images)
        start = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        print(f"local Ray started in {time.perf_counter() - start:.1f} s (not counted below)")
        try:
            plain = plain_rate(paths, weights, args.batch_size)
            on_ray = {n: ray_rate(folder, weights, tmp / f"shards-{n}", n, args.batch_size) for n in (1, 2)}
        finally:
            ray.shutdown()
        print("                           whole run (model load in)   after the first batch")
        print(f"plain nima score           {plain[0]:7.1f} images/s              {plain[1]:7.1f} images/s")
        for n, (whole, steady) in on_ray.items():
            label = f"nima score --ray, {n} actor{'s' if n > 1 else ' '}"
            print(f"{label} {whole:7.1f} images/s ({whole / plain[0]:.2f})       "
                  f"{steady:7.1f} images/s ({steady / plain[1]:.2f})")
        print(f"ratio Ray (1 actor) / plain = {on_ray[1][0] / plain[0]:.2f} whole, {on_ray[1][1] / plain[1]:.2f} after "
              f"the first batch (goal >= 0.8); 2 actors / 1 actor = {on_ray[2][0] / on_ray[1][0]:.2f} whole")
        print(f"{len(paths)} JPEGs ~640 px, batch {args.batch_size}, {os.cpu_count()} CPUs, weights {weights.name}; "
              "whole: from the call to the last row, the model load (plain) or actor start and model load (Ray) in")


if __name__ == "__main__":
    main()
