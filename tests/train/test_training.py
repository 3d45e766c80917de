"""Training: two learning rates, schedules, best checkpoint and early stopping, resume after a real
kill, multi-worker training on 127.0.0.1, and no train/serve skew. Tiny models (alpha 0.25, 64 px,
random init) on the demo data keep each run to seconds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from nima_utils.model.losses import emd_loss
from nima_utils.train.loop import TrainConfig, optimizer_for, train, validation_report
from tests.train.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]
LIVELY = 1e-5
"""Spread of a tiny run's mean scores over the validation images above which its backbone is alive
(a random start with batch norm at mean 0 / variance 1 gave 1e-7: every image scored alike; on the
648-image demo a live tiny run spreads about 1e-4 after 5 epochs, on the earlier 327-image one 6e-2)."""


def tiny_config(demo, tmp_path, **overrides) -> TrainConfig:
    values = {**TINY, "cache_dir": str(demo["cache_dir"]), "split_dir": str(demo["split_dir"]),
              "weights_dir": str(tmp_path / "weights"), "run_name": "tiny", **overrides}
    return TrainConfig(**values)


def test_invalid_parameters_are_all_named_at_once(tmp_path):
    config = TrainConfig(schedule="fast", backbone="resnet", batch_size=0, cache_dir=str(tmp_path), run_name="../x",
                         labels="votes")
    with pytest.raises(ValueError) as info:
        config.validate()
    message = str(info.value)
    for words in ("schedule must be one of paper, two-phase", "backbone must be one of", "batch_size must be",
                  "holds no training cache", "run_name must be a plain name",
                  "labels must be one of human, synthetic, unknown"):
        assert words in message
    with pytest.raises(ValueError, match=r"alpha must be 1\.0"):
        TrainConfig(backbone="vgg16", alpha=0.5, cache_dir=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="backbone inception_v3 needs input_size >= 75, got 64"):
        TrainConfig(backbone="inception_v3", input_size=64, cache_dir=str(tmp_path)).validate()


@pytest.mark.slow
@pytest.mark.parametrize(("schedule", "rates"), [("paper", (1e-3, 1e-1)), ("two-phase", (2e-4, 5e-3))])
def test_each_variable_group_moves_by_its_own_rate(schedule, rates):
    """One step: the base moves by base_lr x gradient, the head by head_lr x gradient (SGD without
    momentum; Adam's first step is lr x sign(g), so its size is the rate itself)."""
    from nima_utils.model.network import build_nima

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    y = np.random.default_rng(1).dirichlet(np.ones(10), 8).astype("float32")
    config = TrainConfig(schedule=schedule, base_lr=rates[0], head_lr=rates[1], momentum=0.0)

    def step(optimizer):
        model = build_nima(weights=None, alpha=0.25, input_size=32, dropout=0.0)
        model.set_weights(start)
        model.compile(optimizer, loss=emd_loss)
        model.train_on_batch(x, y)
        return {v.path: np.asarray(v) for v in model.trainable_variables}

    reference = build_nima(weights=None, alpha=0.25, input_size=32, dropout=0.0)
    start = reference.get_weights()
    before = {v.path: np.asarray(v) for v in reference.trainable_variables}
    plain = step(keras.optimizers.SGD(1.0))  # moves by exactly -gradient
    moved = step(optimizer_for(config, steps_per_epoch=10))
    for path, value in before.items():
        grad = value.astype(np.float64) - plain[path]
        delta = value.astype(np.float64) - moved[path]
        rate = rates[1] if path.startswith("scores/") else rates[0]
        mask = np.abs(grad) > 1e-4
        if schedule == "paper":  # float32 storage: differences are exact to about 1e-7 of the value
            np.testing.assert_allclose(delta, rate * grad, rtol=1e-2, atol=3e-7 * max(1.0, np.abs(value).max()))
        else:
            np.testing.assert_allclose(np.abs(delta[mask]), rate, rtol=0.05)
    assert any(p.startswith("scores/") for p in before) and len(before) > 2


def test_two_phase_run_writes_weights_card_and_history(demo, tmp_path):
    config = tiny_config(demo, tmp_path, head_epochs=3, epochs=2, patience=10, labels="synthetic")
    result = train(config, progress=False)
    history = result.history
    assert list(history["phase"]) == ["head"] * 3 + ["finetune"] * 2
    assert np.isfinite(history["val_emd"]).all() and (history["images_per_s"] > 0).all()
    best = history.loc[history["val_emd"].idxmin()]
    assert result.summary["best_epoch"] == f"{best['phase']} {best['epoch']}"
    assert result.summary["best_val_emd"] == pytest.approx(best["val_emd"])
    card = result.card
    assert (card.input_size, card.resize, card.resize_size, card.preprocessing) == (64, "bilinear", 72, "mobilenet")
    assert card.training["schedule"] == "two-phase" and card.training["backend"] == "tensorflow"
    saved = json.loads((result.run_dir / "nima.card.json").read_text())
    assert saved["resize_size"] == 72 and saved["metrics"]["val_emd"] == pytest.approx(best["val_emd"])
    assert saved["labels"] == "synthetic"  # what the data's labels are, for choosing default weights
    assert (result.run_dir / "history.csv").is_file() and (result.run_dir / "summary.json").is_file()
    assert not (result.run_dir / "checkpoint").exists()
    # the saved weights are the best epoch's: they reproduce its validation EMD
    report = validation_report(result.weights, config)
    assert report.loc["model", "emd"] == pytest.approx(best["val_emd"], abs=2e-3)
    # scoring picks the run up from weights/<run>/
    from nima_utils.model.weights import default_weights

    assert default_weights(tmp_path / "weights") == result.weights


def test_early_stopping_stops_after_patience_epochs_without_improvement(demo, tmp_path):
    config = tiny_config(demo, tmp_path, schedule="paper", base_lr=0.5, head_lr=0.5, epochs=8, patience=1)
    result = train(config, progress=False)
    val = list(result.history["val_emd"])
    expected = next((i + 1 for i in range(1, len(val)) if val[i] >= min(val[:i])), len(val))
    assert len(val) == expected
    assert result.summary["stopped_early"] == (expected < 8)


def _job(config: TrainConfig, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "train_job.py"), json.dumps(config.to_dict())],
                            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _summary(proc: subprocess.Popen, timeout: float = 300) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    line = next(line for line in out.splitlines() if line.startswith("SUMMARY "))
    return json.loads(line[len("SUMMARY "):])


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(demo, tmp_path):
    epochs = 5
    whole = _summary(_job(tiny_config(demo, tmp_path / "a", schedule="paper", base_lr=0.05, head_lr=0.2,
                                      epochs=epochs, patience=epochs), {"FINAL_WEIGHTS": str(tmp_path / "a.npz")}))
    config = tiny_config(demo, tmp_path / "b", schedule="paper", base_lr=0.05, head_lr=0.2, epochs=epochs,
                         patience=epochs)
    state = Path(config.weights_dir) / config.run_name / "checkpoint" / "state.json"
    proc = _job(config)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if state.is_file() and json.loads(state.read_text())["state"]["epochs_done"] >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["state"]["epochs_done"]
    assert 2 <= done < epochs
    resumed = _summary(_job(config, {"FINAL_WEIGHTS": str(tmp_path / "b.npz")}))
    assert resumed["resumed"] and resumed["epochs_run"] == epochs
    assert whole["prediction_spread"] > LIVELY  # a live backbone: a resume that is not exact shows
    assert resumed["best_epoch"] == whole["best_epoch"]
    assert resumed["best_val_emd"] == pytest.approx(whole["best_val_emd"], abs=1e-5)
    from nima_utils.model.weights import load_nima

    wa = load_nima(Path(whole["weights"]))[0].get_weights()
    wb = load_nima(Path(resumed["weights"]))[0].get_weights()
    for x, y in zip(wa, wb, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-4)
    # the last epoch's weights too: the best may have been saved before the kill, the last never was
    with np.load(tmp_path / "a.npz") as fa, np.load(tmp_path / "b.npz") as fb:
        assert len(fa.files) == len(fb.files) > 0
        for name in fa.files:
            np.testing.assert_allclose(fa[name], fb[name], atol=1e-5, rtol=1e-4)


def test_resume_refuses_other_settings(demo, tmp_path):
    config = tiny_config(demo, tmp_path, schedule="paper", base_lr=0.05, head_lr=0.2, epochs=2)
    checkpoint = Path(config.weights_dir) / config.run_name / "checkpoint"
    checkpoint.mkdir(parents=True)
    other = {**config.to_dict(), "batch_size": 16}
    (checkpoint / "state.json").write_text(json.dumps({"config": other, "state": {}}))
    with pytest.raises(ValueError, match="other settings \\(batch_size\\)"):
        train(config, progress=False)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_localhost_end_with_identical_weights(demo, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    procs = []
    for index in range(2):
        config = tiny_config(demo, tmp_path / f"w{index}", schedule="paper", base_lr=0.05, head_lr=0.2, epochs=2,
                             patience=5)
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(_job(config, {"TF_CONFIG": json.dumps(tf_config), "CUDA_VISIBLE_DEVICES": ""}))
    chief, other = (_summary(p, timeout=420) for p in procs)
    assert chief["prediction_spread"] > LIVELY  # a live backbone (a dead one trains alike however it is split)
    # each worker saw its own half of the batches: a worker training alone on all of them (no strategy)
    # would end with the other's batch-norm statistics too
    assert chief["statistics_digest"] != other["statistics_digest"]
    assert chief["strategy"] == other["strategy"] == "MultiWorkerMirroredStrategy (2 workers)"
    # every trainable weight is all-reduced: identical on both workers. (Batch-norm moving statistics
    # are each worker's own, from its half of the batches; the chief's are the ones saved.)
    assert chief["trainable_digest"] == other["trainable_digest"]
    assert chief["epochs_run"] == other["epochs_run"] == 2
    assert (tmp_path / "w0" / "weights" / "tiny" / "nima.weights.h5").is_file()
    assert not (tmp_path / "w1" / "weights" / "tiny").exists()  # only the chief writes


def test_no_train_serve_skew(demo, tmp_path):
    """The tensor scoring builds from a file equals what evaluation from the cache builds for it,
    within JPEG re-encoding noise; squashing without the card's crop would differ far more."""
    import pandas as pd

    from nima_utils.data.cache import cache_dataset
    from nima_utils.data.cleanup import image_path
    from nima_utils.images import load_image, model_view, preprocess
    from nima_utils.model.engine import KerasEngine
    from nima_utils.scoring import prepare

    run = train(tiny_config(demo, tmp_path, schedule="two-phase", head_epochs=1, epochs=0, resize_size=72),
                progress=False)
    engine = KerasEngine(Path(run.summary["weights"]))  # what nima score and nima serve load
    assert (engine.card.input_size, engine.card.resize_size, engine.card.resize) == (64, 72, "bilinear")

    ids, cached = [], []
    for batch_ids, images, _ in cache_dataset(demo["cache_dir"], "val", batch_size=8, crop=64, with_ids=True):
        ids += [i.decode() for i in batch_ids.numpy()]
        cached.append(images.numpy())
    cached = np.concatenate(cached)
    assert len(ids) == len(pd.read_csv(demo["split_dir"] / "val.csv"))
    served_noise = []
    for image_id, from_cache in zip(ids, cached, strict=True):
        path = image_path(demo["images_dir"], image_id)
        img = load_image(path)
        served = prepare(path, engine)  # as the run's card prescribes
        skewed = preprocess(model_view(img, 64, "bilinear", None), "mobilenet")
        noise = np.abs(served - from_cache).mean()
        # JPEG q95 re-encoding noise: a few levels of 255 (more on the demo's noisiest edits)
        assert noise < 10 / 127.5, image_id
        assert np.abs(skewed - from_cache).mean() > 2 * noise, image_id
        served_noise.append(noise)
    assert np.median(served_noise) < 6 / 127.5


def test_training_from_the_original_images(demo, tmp_path):
    """data_source="images": no cache, the split's originals decoded every epoch; both phases run and the
    card records the resize to resize_size then the centre crop, as for cache-trained runs."""
    config = tiny_config(demo, tmp_path, data_source="images", cache_dir="", split_dir=str(demo["split_dir"]),
                         images_dir=str(demo["images_dir"]), resize_size=72, head_epochs=3, epochs=1)
    result = train(config, progress=False)
    assert [row["phase"] for row in result.history.to_dict("records")].count("finetune") == 1
    card = json.loads((Path(result.summary["weights"]).parent / "nima.card.json").read_text())
    assert (card["input_size"], card["resize_size"], card["resize"]) == (64, 72, "bilinear")
    assert card["training_data"].startswith("original images")
    assert np.isfinite(result.summary["best_val_emd"])


@pytest.mark.slow
def test_nima_train_command(demo, tmp_path, capsys):
    from nima_utils.cli import main

    assert main(["train", "--schedule", "fast", "--batch-size", "0", "--cache-dir", str(demo["cache_dir"])]) == 2
    err = capsys.readouterr().err
    assert "schedule must be one of paper, two-phase" in err and "batch_size must be" in err
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"cache": {"dir": str(demo["cache_dir"]), "size": 72},
                                   "splits": {"dir": str(demo["split_dir"])}, "images_dir": str(demo["images_dir"])}))
    code = main(["train", "--data-summary", str(summary), "--alpha", "0.25", "--input-size", "64",
                 "--initial-weights", "none", "--head-epochs", "2", "--epochs", "1", "--run-name", "cli",
                 "--weights-dir", str(tmp_path / "weights"), "--no-freeze-batchnorm"])
    assert code == 0
    card = json.loads((tmp_path / "weights" / "cli" / "nima.card.json").read_text())
    assert card["resize_size"] == 72 and card["training"]["epochs_run"] == 1


@pytest.mark.parametrize(("backbone", "size", "scaling"), [("mobilenet_v2", 64, "mobilenet_v2"), ("vgg16", 32, "vgg16"),
                                                          ("inception_v3", 75, "inception_v3")])
def test_other_backbones_build_save_and_load_with_their_preprocessing(backbone, size, scaling, tmp_path):
    """Random weights (only MobileNet's ImageNet file is available offline)."""
    from nima_utils.model.card import ModelCard
    from nima_utils.model.network import BACKBONES, build_from_card
    from nima_utils.model.weights import load_nima, save_nima

    assert BACKBONES[backbone].preprocessing == scaling
    card = ModelCard(backbone=backbone, input_size=size, resize="bilinear", preprocessing=scaling)
    model = build_from_card(card)
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    path = save_nima(model, tmp_path / f"{backbone}.weights.h5", card)
    loaded, loaded_card = load_nima(path)
    assert loaded_card.backbone == backbone and loaded_card.preprocessing == scaling
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)


def test_paper_schedule_decays_every_ten_epochs():
    optimizer = optimizer_for(TrainConfig(schedule="paper", base_lr=1e-3, head_lr=1e-2), steps_per_epoch=5)
    head, base = optimizer.optimizers
    optimizer.build([keras.Variable(np.zeros(3, "float32"))])
    for epoch in (0, 9, 10, 25):
        for inner, rate in ((base, 1e-3), (head, 1e-2)):
            inner.iterations.assign(epoch * 5)
            assert float(inner.learning_rate) == pytest.approx(rate * 0.95 ** (epoch // 10))


@pytest.mark.slow
def test_fine_tunes_a_nima_weights_file(demo, tmp_path, tiny_weights):
    config = tiny_config(demo, tmp_path, initial_weights=str(tiny_weights), head_epochs=2, epochs=1, dropout=0.3)
    result = train(config, progress=False)
    assert "fine-tuned from tiny.weights.h5" in result.card.notes
    assert result.card.dropout == 0.3 and result.model.get_layer("dropout").rate == 0.3  # the run's, not the file's
    assert result.card.resize_size == 72 and result.card.input_size == 64
    with pytest.raises(ValueError, match="is a mobilenet model, not vgg16"):
        train(tiny_config(demo, tmp_path, initial_weights=str(tiny_weights), backbone="vgg16", alpha=1.0,
                          run_name="other"), progress=False)


@pytest.mark.slow
def test_a_finished_run_is_not_replaced_unless_asked(demo, tmp_path):
    config = tiny_config(demo, tmp_path, head_epochs=2, epochs=0)
    first = train(config, progress=False)
    before = first.weights.read_bytes()
    with pytest.raises(ValueError, match=r"already finished .* overwrite=True"):
        train(config, progress=False)
    assert first.weights.read_bytes() == before
    again = train(tiny_config(demo, tmp_path, head_epochs=2, epochs=0, overwrite=True, seed=4), progress=False)
    assert again.weights == first.weights and again.summary["wall_seconds"] > 0


def test_best_head_epoch_is_the_epoch_whose_weights_are_kept(demo, tmp_path):
    """Issue 13: a head phase whose best epoch is not its last (a rate so high the head saturates
    after one epoch) reports that epoch, and its row holds the score of the weights kept."""
    config = tiny_config(demo, tmp_path, head_epochs=3, epochs=0, head_phase_lr=0.5)
    result = train(config, progress=False)
    history = result.history
    best = history.loc[history["val_emd"].idxmin()]
    assert best["epoch"] != 3, "the setting no longer has a best head epoch before the last"
    assert result.summary["best_epoch"] == result.card.metrics["best_epoch"] == f"head {best['epoch']}"
    assert result.summary["best_val_emd"] == pytest.approx(best["val_emd"])
    report = validation_report(result.weights, config)
    assert report.loc["model", "emd"] == pytest.approx(best["val_emd"], abs=2e-3)
    assert history["val_emd"].iloc[-1] >= best["val_emd"]  # the last row keeps its own (saturated) score


def test_kills_inside_checkpoint_writes_resume_to_the_same_weights(demo, tmp_path):
    """SIGKILL at three instants (job KILL_AT): after epoch 1's best and last weights, before its state;
    inside the write of epoch 2's weights (half a file); after epoch 2's weights, before its state.
    Each restart continues from the last complete checkpoint and ends as an uninterrupted run."""
    settings = {"schedule": "paper", "base_lr": 0.05, "head_lr": 0.2, "epochs": 3, "patience": 3}
    whole = _summary(_job(tiny_config(demo, tmp_path / "a", **settings), {"FINAL_WEIGHTS": str(tmp_path / "a.npz")}))
    config = tiny_config(demo, tmp_path / "b", **settings)
    run_dir = Path(config.weights_dir) / config.run_name
    for kill_at, done in (("state.json:1", None), ("epoch-2:1", 1), ("state.json:1", 1)):
        proc = _job(config, {"KILL_AT": kill_at})
        proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, kill_at
        state = run_dir / "checkpoint" / "state.json"
        assert (json.loads(state.read_text())["state"]["epochs_done"] if state.exists() else None) == done, kill_at
        assert not (run_dir / "nima.weights.h5").exists()  # nothing looks finished
    resumed = _summary(_job(config, {"FINAL_WEIGHTS": str(tmp_path / "b.npz")}))
    assert resumed["resumed"] and resumed["best_epoch"] == whole["best_epoch"]
    assert resumed["best_val_emd"] == pytest.approx(whole["best_val_emd"], abs=1e-5)
    with np.load(tmp_path / "a.npz") as fa, np.load(tmp_path / "b.npz") as fb:
        for name in fa.files:
            np.testing.assert_allclose(fa[name], fb[name], atol=1e-5, rtol=1e-4)
    assert sorted(p.name for p in run_dir.iterdir()) == [".train.lock", "history.csv", "history.json",
                                                          "nima.card.json", "nima.weights.h5", "summary.json"]


HOLD_LOCK = """
import sys, time
from pathlib import Path
from nima_utils.train.checkpoint import RunLock
RunLock(Path(sys.argv[1]), "tiny").acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_run_of_one_name_is_refused_and_a_dead_ones_lock_taken_over(demo, tmp_path, capsys):
    from nima_utils.cli import main
    from nima_utils.train.checkpoint import RunLock

    run_dir = tmp_path / "weights" / "tiny"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["train", "--cache-dir", str(demo["cache_dir"]), "--run-name", "tiny", "--weights-dir",
                     str(tmp_path / "weights"), "--initial-weights", "none", "--alpha", "0.25",
                     "--input-size", "64"]) == 2
        err = capsys.readouterr().err
        assert f"is being trained by process {holder.pid}" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(run_dir, "tiny")  # the holder died: its lock (file still naming it) is taken over
    assert (run_dir / ".train.lock").read_text().strip() == str(holder.pid)
    lock.acquire()
    assert (run_dir / ".train.lock").read_text().strip() == str(os.getpid())
    lock.release()


def test_a_damaged_cache_shard_is_named_in_one_line(demo, tmp_path, capsys):
    import shutil

    from nima_utils.cli import main

    cache = tmp_path / "cache"
    shutil.copytree(demo["cache_dir"], cache)
    shard = sorted(cache.glob("train-*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # an interrupted copy
    code = main(["train", "--cache-dir", str(cache), "--run-name", "d", "--weights-dir", str(tmp_path / "w"),
                 "--initial-weights", "none", "--alpha", "0.25", "--input-size", "64", "--schedule", "paper",
                 "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and f"damaged cache shard {shard}" in err and "Traceback" not in err, err[-2000:]
