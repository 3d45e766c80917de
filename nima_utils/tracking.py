"""Runs tracked in MLflow: every training run (its whole config, per-epoch EMD and rates, the best
epoch's card, curves and weights) and every evaluation (metrics with their intervals, its report).

The store is the project's own `mlruns/` (an sqlite database and the artifacts beside it) unless
MLFLOW_TRACKING_URI names another one, such as a tracking server. Tracking never costs a run: any
failure of the store prints one line and the run goes on untracked. `NIMA_TRACKING=off` (what
`--no-track` sets) switches it off; `NIMA_EXPERIMENT` names the experiment (the pipeline's sweeps).
MLflow is imported only when a run is tracked.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nima_utils.paths import project_root

TRACKING_ENV = "NIMA_TRACKING"
EXPERIMENT_ENV = "NIMA_EXPERIMENT"
RUN_FILE = "mlflow.json"
"""Beside a run's weights: which MLflow run they belong to (so evaluations and resumes log there)."""
TRAIN_EXPERIMENT, EVALUATE_EXPERIMENT = "nima-train", "nima-evaluate"
_OFF = {"0", "off", "false", "no"}


def enabled(track: bool = True) -> bool:
    """Whether to track: the run's own switch, unless NIMA_TRACKING switches tracking off."""
    return bool(track) and os.environ.get(TRACKING_ENV, "").strip().lower() not in _OFF


def local_store() -> Path:
    """The project's own store: mlruns/ in the project root (git-ignored)."""
    return project_root() / "mlruns"


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else the sqlite database of the project's store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{local_store() / 'mlflow.db'}"


def experiment_name(default: str) -> str:
    return os.environ.get(EXPERIMENT_ENV) or default


def metric_key(name: str) -> str:
    """MLflow's metric names allow letters, digits and _-. /: `accuracy@5.0` becomes `accuracy_at_5.0`."""
    return re.sub(r"[^\w\-. /]", "_", name.replace("@", "_at_"))


class Tracker:
    """One MLflow run, through MlflowClient (no global active run). Every call is guarded: the first
    failure prints one line, and every later call does nothing."""

    def __init__(self, uri: str | None = None, echo: Callable[[str], None] | None = None) -> None:
        self.uri = uri or tracking_uri()
        self.echo = echo or (lambda line: print(line, file=sys.stderr))
        self.run_id: str | None = None
        self.broken = False
        self._client = None

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        if self.broken:
            return None
        try:
            return fn()
        except Exception as exc:  # the store's failure must never cost the run
            self.broken = True
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            self.echo(f"nima: MLflow tracking at {self.uri} failed ({what}: {first}); the run goes on untracked")
            return None

    @property
    def client(self):
        if self._client is None:
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")  # a dead server: seconds, not minutes
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
            from mlflow.tracking import MlflowClient

            logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its "Creating initial tables..." notes

            if self.uri.startswith("sqlite:///"):
                Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        artifacts = None  # a server chooses; an sqlite store keeps them beside its database (not in the cwd)
        if self.uri.startswith("sqlite:///"):
            artifacts = (Path(self.uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
        return self.client.create_experiment(name, artifact_location=artifacts)

    def start(self, experiment: str, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> str | None:
        def go() -> str:
            run = self.client.create_run(self._experiment_id(experiment), run_name=run_name, tags=tags)
            self.run_id = run.info.run_id
            self.params(params)
            return self.run_id
        return self._call("starting a run", go)

    def resume(self, run_id: str) -> bool:
        """Continue an unfinished run (an interrupted training); False if it is gone or finished."""
        def go() -> bool:
            info = self.client.get_run(run_id).info
            if info.status == "FINISHED":
                return False
            self.client.update_run(run_id, status="RUNNING")
            self.run_id = run_id
            return True
        return bool(self._call("resuming a run", go))

    def attach(self, run_id: str) -> bool:
        """Log into an existing run as it is (an evaluation into its finished training run)."""
        def go() -> bool:
            if self.client.get_run(run_id).info.lifecycle_stage != "active":
                return False
            self.run_id = run_id
            return True
        return bool(self._call("finding a run", go))

    def params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, json.dumps(v) if isinstance(v, dict | list) else str(v)) for k, v in params.items()]
        self._call("logging parameters", lambda: self.client.log_batch(self.run_id, params=items))

    def metrics(self, values: dict[str, Any], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(metric_key(k), float(v), now, step) for k, v in values.items()
                 if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]
        if items and self.run_id:
            self._call("logging metrics", lambda: self.client.log_batch(self.run_id, metrics=items))

    def artifacts(self, paths: Iterable[Path], folder: str | None = None) -> None:
        for path in paths:
            if path.is_file():
                self._call(f"logging {path.name}", lambda p=path: self.client.log_artifact(self.run_id, str(p), folder))
            elif path.is_dir():
                self._call(f"logging {path.name}/",
                           lambda p=path: self.client.log_artifacts(self.run_id, str(p), f"{folder}/{p.name}"
                                                                    if folder else p.name))

    def finish(self, status: str = "FINISHED") -> None:
        if self.run_id:
            self._call("ending the run", lambda: self.client.set_terminated(self.run_id, status))

    def remember(self, folder: Path) -> None:
        """Write which run this is into `folder`/mlflow.json (beside the weights)."""
        if self.run_id and not self.broken and folder.is_dir():
            (folder / RUN_FILE).write_text(json.dumps({"tracking_uri": self.uri, "run_id": self.run_id}) + "\n")


def recorded_run(folder: Path, uri: str) -> str | None:
    """The MLflow run id written beside a run's weights, if it was tracked in the store at `uri`."""
    try:
        saved = json.loads((folder / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return saved.get("run_id") if isinstance(saved, dict) and saved.get("tracking_uri") == uri else None


def _is_chief() -> bool:
    """Only the chief of a multi-worker training (TF_CONFIG task index 0) tracks."""
    try:
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    except ValueError:
        return True
    return int(task.get("index", 0)) == 0 and task.get("type", "worker") in ("worker", "chief")


def _epoch_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """A history row as metrics: the head phase's as head_*, the all-layer epochs' plain."""
    prefix = "head_" if row.get("phase") == "head" else ""
    keys = ("train_emd", "val_emd", "lr_base", "lr_head", "seconds", "images_per_s")
    return {f"{prefix}{k}": row[k] for k in keys if k in row and not (prefix and k == "lr_base")}


def _learning_curves(history, summary: dict[str, Any], path: Path) -> Path | None:
    """The run's learning curves (`train.figures`, as notebook 02 draws them) as a PNG. The backend is
    left alone (a notebook keeps showing its figures) and the figure is closed, so it is not shown twice."""
    import matplotlib.pyplot as plt

    from nima_utils.train.figures import learning_curves

    if history.empty or not summary.get("best_epoch"):
        return None
    fig = learning_curves(history, summary["best_epoch"], summary["best_val_emd"])
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class _TrainingRun:
    """The tracking of one training run, started at its first finished epoch (a run refused before
    any work leaves no trace) and continued when an interrupted run resumes."""

    def __init__(self, config) -> None:
        from nima_utils.paths import resolve, weights_dir

        self.config = config
        self.folder = resolve(config.weights_dir, weights_dir()) / config.run_name
        self.tracker = Tracker()

    def begin(self) -> None:
        if self.tracker.run_id or self.tracker.broken:
            return
        previous = recorded_run(self.folder, self.tracker.uri)
        if previous and self.tracker.resume(previous):
            return
        experiment = self.config.experiment or experiment_name(TRAIN_EXPERIMENT)
        self.tracker.start(experiment, self.config.run_name, self.config.to_dict(),
                           {"nima.kind": "train", "nima.run_dir": str(self.folder)})
        self.tracker.remember(self.folder)

    def epoch(self, row: dict[str, Any]) -> None:
        self.begin()
        self.tracker.metrics(_epoch_metrics(row), int(row.get("epoch", 0)))

    def finished(self, result) -> None:
        self.begin()
        summary = result.summary
        self.tracker.metrics({k: summary.get(k) for k in ("best_val_emd", "wall_seconds", "epochs_run",
                                                          "head_epochs_run", "train_images", "val_images")})
        self.tracker.params({"best_epoch": summary.get("best_epoch"), "backend": summary.get("backend"),
                             "device": summary.get("device")})
        folder = result.run_dir
        curves = _learning_curves(result.history, summary, folder / "learning_curves.png")
        files = [folder / n for n in ("nima.card.json", "history.csv", "summary.json")] + ([curves] if curves else [])
        self.tracker.artifacts(files)
        self.tracker.artifacts([result.weights], "weights")
        self.tracker.remember(folder)
        self.tracker.finish("FINISHED")


def tracked(train: Callable) -> Callable:
    """Decorate `train(config, progress, on_epoch)` so that the run is tracked when `config.track`."""

    @functools.wraps(train)
    def wrapper(config, progress: bool = True, on_epoch: Callable[[dict], None] | None = None):
        if not enabled(getattr(config, "track", True)) or not _is_chief():
            return train(config, progress, on_epoch)
        run = _TrainingRun(config)

        def each(row: dict) -> None:
            run.epoch(row)
            if on_epoch:
                on_epoch(row)

        try:
            result = train(config, progress, each)
        except KeyboardInterrupt:
            run.tracker.finish("KILLED")
            raise
        except BaseException:
            run.tracker.finish("FAILED")
            raise
        run.finished(result)
        return result

    return wrapper


def keras_callbacks(config, run_dir: Path) -> list:
    """Keras' TensorBoard callback writing beside the run (weights/<run>/tensorboard/), when tracked."""
    if not enabled(getattr(config, "track", True)):
        return []
    import keras

    return [keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False)]


def log_evaluation(weights: Path, result: dict[str, Any], provenance: dict[str, Any], report_dir: Path,
                   track: bool = True) -> str | None:
    """An evaluation's metrics (value and 95% interval bounds, as test_*), into the MLflow run that
    trained `weights` when there is one, else a run of its own; its report folder as artifacts."""
    if not enabled(track):
        return None
    tracker = Tracker()
    trained = recorded_run(Path(weights).parent, tracker.uri)
    own = not (trained and tracker.attach(trained))
    if own:
        params = {k: v for k, v in provenance.items() if isinstance(v, str | int | float | bool)}
        tracker.start(experiment_name(EVALUATE_EXPERIMENT), Path(weights).name, params, {"nima.kind": "evaluate"})
    split = provenance.get("split", "test")
    values: dict[str, Any] = {f"{split}_n_images": result.get("n_images")}
    for who, prefix in (("model", split), ("trivial_baseline", f"{split}_baseline")):
        for metric, entry in result.get(who, {}).items():
            values[f"{prefix}_{metric}"] = entry.get("value")
            if who == "model":
                values[f"{prefix}_{metric}_low"] = entry.get("low")
                values[f"{prefix}_{metric}_high"] = entry.get("high")
    tracker.metrics(values)
    tracker.artifacts(sorted(p for p in Path(report_dir).iterdir() if p.is_file()), f"evaluation-{split}")
    if own:
        tracker.finish("FINISHED")
    return tracker.run_id


def log_report(run_dirs: Iterable[Path], pages: Iterable[Path], folder: str = "report") -> None:
    """Attach a pipeline's report pages to the training runs it made (found by their mlflow.json)."""
    if not enabled():
        return
    pages = [p for p in pages if p.is_file()]
    for run_dir in run_dirs:
        tracker = Tracker()
        run_id = recorded_run(run_dir, tracker.uri)
        if run_id:
            tracker.run_id = run_id
            tracker.artifacts(pages, folder)


def ui(argv: list[str] | None = None) -> None:
    """`python -m nima_utils.tracking ui [mlflow ui options]`: MLflow's UI on the project's store."""
    store = local_store()
    store.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--backend-store-uri", tracking_uri(),
            "--default-artifact-root", (store / "artifacts").as_uri(), *(argv or [])]
    print(f"MLflow UI on {tracking_uri()}: http://127.0.0.1:5000/ (Ctrl-C stops it)", file=sys.stderr)
    os.execvp(args[0], args)


if __name__ == "__main__":
    if sys.argv[1:2] == ["ui"]:
        ui(sys.argv[2:])
    elif sys.argv[1:2] == ["uri"]:
        print(tracking_uri())
    else:
        sys.exit("usage: python -m nima_utils.tracking ui [mlflow ui options] | uri")
