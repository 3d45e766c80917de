"""Load test on 127.0.0.1: concurrent clients mixing good and bad uploads against a real server.
Bounded in count (6 clients x 12 requests) and time; no 5xx, every good image scored, memory bounded."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests import image_corpus
from tests.server_process import nima_server, rss_mb

GOOD = ["photo.jpg", "cmyk.jpg", "alpha.png", "rotated.jpg", "sixteen.png", "anim.gif", "photo.webp"]
BAD = ["truncated.jpg", "text.jpg", "empty.jpg", "bomb.png"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = image_corpus.build(tmp_path_factory.mktemp("load"))
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def client_run(url, corpus, client_id, requests, deadline):
    outcomes = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(requests):
            if time.monotonic() > deadline:
                break
            if i % 3 == 2:  # a batch mixing good and bad files
                names = [GOOD[(client_id + i) % len(GOOD)], BAD[i % len(BAD)], GOOD[(client_id + i + 1) % len(GOOD)]]
                r = http.post("/score/batch", files=[("files", (n, corpus[n])) for n in names])
                outcomes.append(("batch", names, r.status_code, r.json()))
            else:
                pool = GOOD if i % 2 == 0 else BAD
                name = pool[(client_id * 3 + i) % len(pool)]
                r = http.post("/score", files=[("file", (name, corpus[name]))])
                outcomes.append(("single", [name], r.status_code, r.json()))
    return outcomes


@pytest.mark.slow
def test_concurrent_mixed_load(tiny_weights, corpus):
    with nima_server(tiny_weights) as (url, proc):
        warm = run_load(url, corpus, clients=2, requests=3)
        base = rss_mb(proc.pid)
        peak = [base]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak.append(rss_mb(proc.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            outcomes = run_load(url, corpus, clients=6, requests=12)
        finally:
            stop.set()
            sampler.join()
        assert httpx.get(url + "/health").status_code == 200  # still up
    outcomes += warm
    assert len(outcomes) == 2 * 3 + 6 * 12, "the load did not finish within its time bound"
    assert all(status < 500 for _, _, status, _ in outcomes)
    scored = 0
    for kind, names, status, body in outcomes:
        if kind == "single":
            assert status == 200 if names[0] in GOOD else status in (400, 413, 415, 422)
            scored += status == 200
        else:
            assert status == 200
            assert [("mean" in r) for r in body["results"]] == [True, False, True]
            scored += 2
    assert scored > 40
    assert max(peak) - base < 300, f"server memory grew from {base:.0f} MB to {max(peak):.0f} MB"


def run_load(url, corpus, clients, requests):
    deadline = time.monotonic() + 180
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client_run, url, corpus, c, requests, deadline) for c in range(clients)]
        return [o for f in futures for o in f.result()]


def test_serve_options_set_the_limits(tiny_weights, corpus):
    with nima_server(tiny_weights, "--max-batch", "2", "--max-file-mb", "0.3", "--threshold", "1") as (url, _):
        health = httpx.get(url + "/health").json()
        assert health["limits"]["max_batch"] == 2 and health["threshold"] == 1.0
        three = [("files", (n, corpus[n])) for n in ("photo.jpg", "gray.png", "photo.webp")]
        assert httpx.post(url + "/score/batch", files=three).status_code == 413
        r = httpx.post(url + "/score", files=[("file", ("photo.bmp", corpus["photo.bmp"]))])  # 406 kB > 0.3 MiB
        assert r.status_code == 413 and "over the limit" in r.json()["detail"]["error"]
        r = httpx.post(url + "/score", files=[("file", ("photo.jpg", corpus["photo.jpg"]))])
        assert r.json()["decision"] == "accepted"  # every mean is above a threshold of 1
