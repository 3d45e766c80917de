"""Service and CLI speed per engine (Keras, LiteRT), in one run on this machine.

- service, single requests: 1, 4 and 16 concurrent clients posting one ~640 px JPEG each -> requests/s, p50/p99
- service, batch requests: 2 concurrent clients posting 16 JPEGs each -> requests/s, images/s, p50/p99
- CLI engine (`nima score`): images/s on 256 JPEGs, next to the engine's own speed on preloaded batches
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np

from benchmarks.score_throughput import bench_weights, make_jpegs
from nima_utils.model.engine import export_tflite, load_engine
from nima_utils.scoring import prepare, score_images
from tests.server_process import nima_server


def load(url: str, route: str, payloads: list[list[tuple[str, bytes]]], clients: int) -> tuple[float, np.ndarray]:
    """Send every payload (a list of files) with `clients` concurrent clients; wall time, latencies."""
    field = "file" if route == "/score" else "files"

    def send(http: httpx.Client, files: list[tuple[str, bytes]]) -> float:
        start = time.perf_counter()
        r = http.post(route, files=[(field, f) for f in files])
        r.raise_for_status()
        return time.perf_counter() - start

    with httpx.Client(base_url=url, timeout=120) as http, ThreadPoolExecutor(clients) as pool:
        send(http, payloads[0])  # warm-up
        start = time.perf_counter()
        latencies = np.array(list(pool.map(lambda p: send(http, p), payloads)))
        return time.perf_counter() - start, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--single", type=int, default=120, help="single requests per engine")
    parser.add_argument("--batches", type=int, default=16, help="batch requests per engine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = bench_weights(args.weights, tmp)
        models = {"keras": weights, "tflite": export_tflite(weights, tmp / "model.tflite")}
        paths = make_jpegs(tmp, 256)
        files = [(p.name, p.read_bytes()) for p in paths]
        singles = [[files[i % len(files)]] for i in range(args.single)]
        batches = [[files[(16 * i + j) % len(files)] for j in range(16)] for i in range(args.batches)]
        print(f"{os.cpu_count()} CPUs, weights {weights.name}, JPEGs ~640 px")
        for name, model in models.items():
            engine = load_engine(model, name)
            pre = np.stack([prepare(p, engine) for p in paths])
            engine.predict(pre[:32])
            start = time.perf_counter()
            for i in range(0, len(pre), 32):
                engine.predict(pre[i : i + 32])
            alone = len(pre) / (time.perf_counter() - start)
            start = time.perf_counter()
            for _ in score_images(paths, engine):
                pass
            cli = len(paths) / (time.perf_counter() - start)
            print(f"[{name}] engine alone {alone:6.1f} img/s | CLI engine {cli:6.1f} img/s ({cli / alone:.2f}x)")
            del engine
            with nima_server(model, "--engine", name) as (url, _):
                for clients in (1, 4, 16):
                    wall, lat = load(url, "/score", singles, clients=clients)
                    print(f"[{name}] service single x{clients:<2d} clients: {len(singles) / wall:6.1f} req/s = img/s "
                          f"({len(singles) / wall / alone:.2f}x engine), p50 {1e3 * np.median(lat):.0f} ms, "
                          f"p99 {1e3 * np.percentile(lat, 99):.0f} ms")
                wall, lat = load(url, "/score/batch", batches, clients=2)
                rate = len(batches) / wall
                print(f"[{name}] service batch16 x2 clients: {rate:6.2f} req/s = {16 * rate:6.1f} img/s "
                      f"({16 * rate / alone:.2f}x engine), p50 {1e3 * np.median(lat):.0f} ms, "
                      f"p99 {1e3 * np.percentile(lat, 99):.0f} ms")


if __name__ == "__main__":
    main()
