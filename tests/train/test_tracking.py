"""Runs tracked in MLflow: a tiny training run read back from an sqlite store with MlflowClient
(parameters, per-epoch metrics, artifacts), its evaluation logged into the same run, tracking that
fails or is switched off never costs the run, and (slow) a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from nima_utils import tracking
from nima_utils.train.loop import TrainConfig, train
from tests.train.conftest import TINY

mlflow = pytest.importorskip("mlflow", reason="MLflow is in the track extra (make setup installs it)")
from mlflow.tracking import MlflowClient  # noqa: E402


def tiny(demo, tmp_path, **overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, "cache_dir": str(demo["cache_dir"]), "split_dir": str(demo["split_dir"]),
                          "weights_dir": str(tmp_path / "weights"), "run_name": "tracked", "head_epochs": 3,
                          "epochs": 2, **overrides})


@pytest.fixture
def store(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("NIMA_TRACKING", "on")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("NIMA_EXPERIMENT", raising=False)
    return uri


def only_run(uri: str, experiment: str):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_training_run_is_tracked_and_its_evaluation_logged_into_it(demo, tmp_path, store):
    config = tiny(demo, tmp_path)
    result = train(config, progress=False)
    client, run = only_run(store, tracking.TRAIN_EXPERIMENT)
    assert run.info.status == "FINISHED" and run.info.run_name == "tracked"
    params = run.data.params
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= set(params)
    assert params["input_size"] == "64" and params["best_epoch"] == result.summary["best_epoch"]
    val = client.get_metric_history(run.info.run_id, "val_emd")
    assert [m.step for m in val] == [1, 2]
    assert [m.value for m in val] == pytest.approx(list(result.history.query("phase == 'finetune'")["val_emd"]))
    assert len(client.get_metric_history(run.info.run_id, "head_val_emd")) == 3
    assert len(client.get_metric_history(run.info.run_id, "lr_base")) == 2
    assert run.data.metrics["best_val_emd"] == pytest.approx(result.summary["best_val_emd"])
    assert {"nima.card.json", "history.csv", "summary.json", "learning_curves.png",
            "weights/nima.weights.h5"} <= artifact_paths(client, run.info.run_id)
    assert any((result.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert tracking.recorded_run(result.run_dir, store) == run.info.run_id

    report = tmp_path / "report"
    report.mkdir()
    (report / "summary.json").write_text("{}\n")
    interval = {"value": 0.1, "low": 0.08, "high": 0.12}
    evaluation = {"n_images": 7, "model": {"emd": interval, "accuracy@5.0": interval},
                  "trivial_baseline": {"emd": {"value": 0.2, "low": 0.18, "high": 0.22}}}
    assert tracking.log_evaluation(result.weights, evaluation, {"split": "test"}, report) == run.info.run_id
    metrics = client.get_run(run.info.run_id).data.metrics
    assert metrics["test_emd"] == 0.1 and metrics["test_emd_low"] == 0.08
    assert metrics["test_accuracy_at_5.0_high"] == 0.12
    assert metrics["test_baseline_emd"] == 0.2 and metrics["test_n_images"] == 7
    assert "evaluation-test/summary.json" in artifact_paths(client, run.info.run_id)


def test_a_dead_tracking_server_costs_nothing_but_a_line(demo, tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NIMA_TRACKING", "on")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = train(tiny(demo, tmp_path, epochs=1, head_epochs=2), progress=False)
    assert time.monotonic() - started < 120
    assert result.weights.is_file() and (result.run_dir / "summary.json").is_file()
    err = capsys.readouterr().err
    assert err.count("MLflow tracking at") == 1 and "the run goes on untracked" in err
    assert not (result.run_dir / tracking.RUN_FILE).exists()


def test_switched_off_tracking_writes_nothing(demo, tmp_path, store, monkeypatch):
    result = train(tiny(demo, tmp_path, epochs=1, head_epochs=0, track=False), progress=False)
    assert result.weights.is_file()
    assert not (result.run_dir / tracking.RUN_FILE).exists() and not (result.run_dir / "tensorboard").exists()
    assert not (tmp_path / "mlruns").exists()
    monkeypatch.setenv("NIMA_TRACKING", "off")
    assert not tracking.enabled(True)


def test_metric_names_are_mlflow_safe():
    assert tracking.metric_key("accuracy@5.0") == "accuracy_at_5.0"
    assert tracking.metric_key("srcc(mean)") == "srcc_mean_"


@pytest.mark.slow
def test_a_real_tracking_server_on_loopback(demo, tmp_path, monkeypatch):
    """`mlflow server` with an sqlite backend on 127.0.0.1 (its own process group, stopped whole)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", (tmp_path / "server-artifacts").as_uri()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "mlflow server exited"
            assert time.monotonic() < deadline, "mlflow server did not start in 180 s"
            time.sleep(1)
        uri = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("NIMA_TRACKING", "on")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        result = train(tiny(demo, tmp_path, epochs=1, head_epochs=2), progress=False)
        client, run = only_run(uri, tracking.TRAIN_EXPERIMENT)
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "head_val_emd")) == 2
        assert "weights/nima.weights.h5" in artifact_paths(client, run.info.run_id)
        assert tracking.recorded_run(result.run_dir, uri) == run.info.run_id
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
