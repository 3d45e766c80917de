"""`nima score --ray` on a local Ray: the same scores as `nima score`, bad images as rows, resumable by shard."""

from __future__ import annotations

import os
import shutil
import tarfile

import numpy as np
import pytest

from tests import image_corpus

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from nima_utils.serve.ray_scoring import RayScoring, plan_shards, read_shard, score_with_ray, shard_file  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token written into the home folder
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder of good and bad images, and the same good images as a Parquet table of paths, one of
    bytes (plus a bad row) and a WebDataset tar, as img2dataset writes them (key.jpg members)."""
    root = tmp_path_factory.mktemp("ray")
    folder = image_corpus.build(root / "photos")
    good = [folder / n for n in image_corpus.GOOD]
    pq.write_table(pa.table({"path": [p.name for p in good]}), folder / "paths.parquet")  # relative to the table
    keys = [p.stem + p.suffix.replace(".", "_") for p in good]
    table = {"key": [*keys, "broken"], "jpg": [p.read_bytes() for p in good] + [b"not an image"]}
    pq.write_table(pa.table(table), root / "bytes.parquet")
    with tarfile.open(root / "shard-00000.tar", "w") as tar:
        for key, p in zip(keys, good, strict=True):
            tar.add(p, arcname=f"{key}.jpg")
    return {"folder": folder, "paths": folder / "paths.parquet", "bytes": root / "bytes.parquet",
            "tar": root / "shard-00000.tar", "keys": dict(zip(keys, image_corpus.GOOD, strict=True))}


@pytest.fixture(scope="module")
def plain(inputs, lively_weights):
    """`nima score`'s results, by file name."""
    from nima_utils.model.engine import load_engine
    from nima_utils.scoring import score_images

    files = sorted(p for p in inputs["folder"].iterdir() if p.suffix != ".parquet")
    return {os.path.basename(r.source): r for r in score_images(files, load_engine(lively_weights), batch_size=4)}


def job(weights, out_dir, **kw) -> RayScoring:
    return RayScoring(str(weights), out_dir, actor_cpus=0.5, batch_size=4, files_per_shard=5, **kw)


@pytest.fixture(scope="module")
def scored(local_ray, inputs, lively_weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray-out") / "shards"
    paths = [str(inputs[k]) for k in ("folder", "paths", "bytes", "tar")]
    results = list(score_with_ray(job(lively_weights, out), paths))
    return paths, out, results


def name_of(source: str, keys: dict[str, str]) -> str:
    tail = source.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return keys.get(tail, tail)


def test_scores_equal_plain_scoring_on_every_input(scored, plain, inputs):
    _, _, results = scored
    n = len(image_corpus.GOOD)
    assert len(results) == len(plain) + 3 * n + 1  # folder, paths table, bytes table (+ a bad row), tar
    for result in results:
        name = name_of(result.source, inputs["keys"])
        if name == "broken":
            assert result.error and "not an image" in result.error and result.mean is None
            continue
        expected = plain[name]
        assert (result.error is None) == (expected.error is None), result.source
        if expected.error is None:
            assert np.max(np.abs(np.array(result.probs) - expected.probs)) <= 1e-5
            assert abs(result.mean - expected.mean) <= 1e-5 and result.decision == expected.decision
    assert len({round(r.mean, 4) for r in results if r.ok}) > 3  # the model tells images apart


def test_bad_images_are_rows_with_their_error(scored):
    _, _, results = scored
    errors = {os.path.basename(r.source): r.error for r in results if not r.ok and "photos" in r.source}
    assert set(errors) == set(image_corpus.BAD)
    for name, reason in image_corpus.BAD.items():
        assert reason in errors[name]


def test_resume_after_a_kill_loses_and_repeats_no_row(scored, lively_weights, tmp_path):
    paths, done, results = scored
    out = tmp_path / "shards"
    shutil.copytree(done, out)
    shards, _ = plan_shards(paths, files_per_shard=5)
    assert len(shards) == 7  # 17 files in shards of 5, two tables, one tar
    tar = next(s for s in shards if s.kind == "tar")
    killed = [shard_file(out, tar), shard_file(out, shards[-1])]
    for path in killed:  # a kill before these were renamed into place: a partial temporary file at most
        path.replace(path.with_name(f".{path.name}.999.tmp"))
        path.with_name(f".{path.name}.999.tmp").write_bytes(b"PAR1 torn")
    kept = {p: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    again = list(score_with_ray(job(lively_weights, out), paths))
    assert sorted(r.source for r in again) == sorted(r.source for r in results)
    assert len({r.source for r in again}) == len(again) - len(image_corpus.GOOD)  # paths table repeats the folder
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # finished shards were not redone
    assert all(p.exists() for p in killed) and len(read_shard(killed[0])) == len(image_corpus.GOOD)
    assert not list(out.glob(".*.tmp"))  # the torn temporary files are gone


def test_cli_writes_csv_and_shards(local_ray, inputs, lively_weights, tmp_path):
    from nima_utils.cli import main

    out = tmp_path / "scores.jsonl"
    args = ["score", str(inputs["tar"]), "--ray", "--weights", str(lively_weights), "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert len(out.read_text().splitlines()) == len(image_corpus.GOOD)
    assert len(list((tmp_path / "scores.jsonl.shards").glob("*.parquet"))) == 1


def test_without_ray_installed_one_line_error(monkeypatch, capsys, tmp_path):
    import importlib.util

    from nima_utils.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert main(["score", str(tmp_path), "--ray", "--shards", str(tmp_path / "s")]) == 2
    assert "the ray extra" in capsys.readouterr().err
    assert main(["score", str(tmp_path), "--actors", "2"]) == 2
    assert "go with --ray" in capsys.readouterr().err
