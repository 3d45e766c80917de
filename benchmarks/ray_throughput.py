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


def plain_rate(paths: list[Path], weights: Path, batch_size: int) -> float:
    start = time.perf_counter()
    rows = list(score_images(paths, load_engine(weights), batch_size=batch_size))
    assert all(r.ok for r in rows)
    return len(paths) / (time.perf_counter() - start)


def ray_rate(folder: Path, weights: Path, out: Path, actors: int, batch_size: int) -> float:
    from nima_utils.serve.ray_scoring import RayScoring, score_with_ray

    cpus = os.cpu_count() or 1
    job = RayScoring(str(weights), out, actors=actors, actor_cpus=min(1.0, cpus / (2 * actors)),
                     batch_size=batch_size)
    start = time.perf_counter()
    rows = list(score_with_ray(job, [str(folder)]))
    assert all(r.ok for r in rows) and len(rows) == len(list(folder.glob("*.jpg")))
    return len(rows) / (time.perf_counter() - start)


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
        print(f"plain nima score         {plain:7.1f} images/s")
        for n, rate in on_ray.items():
            print(f"nima score --ray, {n} actor{'s' if n > 1 else ' '} {rate:7.1f} images/s "
                  f"({rate / plain:.2f} of plain)")
        print(f"ratio Ray (1 actor) / plain = {on_ray[1] / plain:.2f} (goal >= 0.8); "
              f"2 actors / 1 actor = {on_ray[2] / on_ray[1]:.2f}")
        print(f"{len(paths)} JPEGs ~640 px, batch {args.batch_size}, {os.cpu_count()} CPUs, weights {weights.name}, "
              "model load included in every rate")


if __name__ == "__main__":
    main()
