"""A run's checkpoint and lock: what a kill at any instant, or a second run of the same name, cannot break.

`weights/<run>/checkpoint/` holds `state.json` and the files it names: the last finished epoch's
weights (optimizer included) and the best epoch's weights with its card. Every file is written
to a temporary name, flushed to disk and renamed; `state.json` is written last and names its
files, so a kill leaves either the previous checkpoint or the new one, whole; files no state names
are strays of a killed write and are removed. `weights/<run>/.train.lock` is held (flock) while a
run trains: a second run of that name is refused naming the first's pid; the kernel drops the lock
of a dead process, so its successor takes it over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from nima_utils.model.card import ModelCard
from nima_utils.paths import resolve, weights_dir
from nima_utils.train.config import TrainConfig
from nima_utils.train.distribute import Placement

RUN_FILE = "nima.weights.h5"
STATE = "state.json"
_FINGERPRINT_FIELDS = ("epochs", "patience", "overwrite", "track", "experiment")
"""Config fields a resumed run may change (the rest must match the interrupted run)."""


def _replace(tmp: Path, path: Path) -> None:
    """Rename `tmp` over `path` and flush the folder entry (the last step of every atomic write)."""
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it is flushed and renamed to `path`
    (a failure removes it). The name keeps `path`'s ending: Keras insists on `.weights.h5`."""
    tmp = path.with_name(f".partial-{path.name}")
    try:
        yield tmp
        _fsync(tmp)
        _replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


def save_weights_atomic(model, path: Path, card=None) -> Path:
    """`model.save_weights` (and its card, written after the weights) without ever leaving a half file."""
    from nima_utils.model.card import card_path
    from nima_utils.model.weights import fingerprint

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        model.save_weights(tmp)
    if card is not None:
        card.fingerprint = fingerprint(model)
        with atomic_path(card_path(path)) as tmp:
            tmp.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


class RunLock:
    """An exclusive lock on a run folder for one training process (see the module docstring)."""

    def __init__(self, run_dir: Path, run_name: str) -> None:
        self.path, self.run_name, self._fd = run_dir / ".train.lock", run_name, None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ValueError(f"run {self.run_name!r} is being trained by process {holder} (lock {self.path}); "
                             "wait for it, or choose another run_name") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


class Checkpoint:
    """The checkpoint folder of one run: resume state, last-epoch weights, best weights."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder

    def saved(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """The state of an interrupted run of the same settings, or None; raises if settings differ."""
        path = self.dir / STATE
        if not path.is_file():
            return None
        saved = json.loads(path.read_text())
        mine = {k: v for k, v in config.items() if k not in _FINGERPRINT_FIELDS}
        theirs = {k: v for k, v in saved["config"].items() if k not in _FINGERPRINT_FIELDS}
        if mine != theirs:
            changed = sorted(k for k in mine if mine[k] != theirs.get(k))
            raise ValueError(f"{self.dir.parent} holds an interrupted run with other settings ({', '.join(changed)}); "
                             "use another run_name, or delete that folder to start over")
        if "best_file" not in saved["state"]:
            raise ValueError(f"{self.dir} is a checkpoint of an older NIMA Lab (before atomic checkpoints): delete "
                             "it to start the run over")
        return saved["state"]

    def weights(self, state: dict[str, Any]) -> Path | None:
        """The last finished epoch's weights file a state names (None before any epoch finished)."""
        name = state.get("weights_file")
        return self.dir / name if name else None

    def best(self, state: dict[str, Any]) -> Path:
        return self.dir / state["best_file"]

    def save_best(self, model, card, tag: str) -> str:
        """Write the best weights + card under a new name (the state written next will name it)."""
        name = f"best-{tag.replace(' ', '-')}.weights.h5"
        save_weights_atomic(model, self.dir / name, card)
        return name

    def save(self, model, config: dict[str, Any], state: dict[str, Any]) -> None:
        """A finished epoch: its weights, then the state naming them (last), then the strays removed."""
        name = f"epoch-{state['epochs_done']}.weights.h5"
        save_weights_atomic(model, self.dir / name)
        state["weights_file"] = name
        atomic_json(self.dir / STATE, {"config": config, "state": state})
        self.discard_strays(state)

    def discard_strays(self, state: dict[str, Any] | None) -> None:
        """Remove files no state names: a killed write's, or an earlier run's that never wrote a state."""
        if not self.dir.is_dir():
            return
        kept = {STATE} if state else set()
        for key in ("weights_file", "best_file"):
            if state and state.get(key):
                kept |= {state[key], state[key].replace(".weights.h5", ".card.json")}
        for path in self.dir.iterdir():
            if path.name not in kept and path.is_file():
                path.unlink()


class RunFolder:
    """One run's folder, state and bookkeeping; only the chief worker writes to weights/."""

    def __init__(self, config: TrainConfig, place: Placement) -> None:
        self.config, self.place = config, place
        root = resolve(config.weights_dir, weights_dir())
        self.final_dir = root / config.run_name
        self.dir = self.final_dir if place.chief else Path(tempfile.mkdtemp(prefix=f"nima-worker{place.worker}-"))
        self.ckpt = Checkpoint(self.dir / "checkpoint")
        self.state: dict[str, Any] = {"history": [], "best_val_emd": None, "best_epoch": None, "wait": 0,
                                      "epochs_done": 0, "phase": "start", "seconds": 0.0,
                                      "seconds_before": 0.0}
        self.card: ModelCard | None = None
        self.data: Any = None
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Wall seconds of the run, the interrupted attempts' included."""
        return self.state["seconds_before"] + time.perf_counter() - self.started

    def resumable(self) -> bool:
        """Whether an interrupted run of the same settings can be continued (raises if settings differ)."""
        saved = self.ckpt.saved(self.config.to_dict())
        self.ckpt.discard_strays(saved)
        if saved is None:
            return False
        self.state = {**saved, "seconds_before": saved.get("seconds", 0.0)}
        return True

    def claim(self) -> None:
        """A new run may not silently replace a finished one of the same name."""
        finished = self.final_dir / RUN_FILE
        if not finished.exists():
            return
        if not self.config.overwrite:
            raise ValueError(f"run {self.config.run_name!r} already finished in {self.final_dir}: choose another "
                             "run_name, or set overwrite=True to replace it")
        for name in (RUN_FILE, "nima.card.json", "history.csv", "history.json", "summary.json"):
            (self.final_dir / name).unlink(missing_ok=True)

    def record(self, row: dict, model: keras.Model) -> None:
        """Add a history row; keep the weights and card if validation EMD improved."""
        self.state["history"].append(row)
        best = self.state["best_val_emd"]
        if best is None or row["val_emd"] < best:
            self.keep_best(model, row["val_emd"], f"{row['phase']} {row['epoch']}")
        else:
            self.state["wait"] += 1
        self.write_history()

    def keep_best(self, model: keras.Model, val_emd: float, epoch: str) -> None:
        """The best weights so far go to the checkpoint; the next state names them (see checkpoint.py)."""
        self.state.update(best_val_emd=val_emd, best_epoch=epoch, wait=0)
        card = dataclasses.replace(self.card, metrics={"val_emd": val_emd, "best_epoch": epoch})
        self.state["best_file"] = self.ckpt.save_best(model, card, epoch)

    def write_history(self) -> None:
        with atomic_path(self.dir / "history.csv") as tmp:
            pd.DataFrame(self.state["history"]).to_csv(tmp, index=False)

    def checkpoint(self, model: keras.Model, epochs_done: int) -> None:
        # Keras' weights files hold the optimizer's state but not the dropout RNG's: keep it in the state.
        rng = {v.path: keras.ops.convert_to_numpy(v).tolist() for v in model.variables if "seed_generator" in v.path}
        self.state.update(epochs_done=epochs_done, phase="finetune", rng=rng, seconds=self.elapsed())
        self.ckpt.save(model, self.config.to_dict(), self.state)

    def restore(self, model: keras.Model) -> None:
        """The last finished epoch's weights, optimizer state and dropout RNG."""
        weights = self.ckpt.weights(self.state)
        if weights is None:
            return
        model.load_weights(weights)
        for variable in model.variables:
            if variable.path in self.state.get("rng", {}):
                variable.assign(np.asarray(self.state["rng"][variable.path], dtype=variable.dtype))
