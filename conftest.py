"""Test-session environment, for pytest's tests and nbval's notebook runs alike (they share one
process, and notebook kernels inherit its environment).

- NIMA_LAB_HOME points at a temporary folder, so notebooks run with their defaults (nbval) and
  tests write data, weights and reports there, never into the user's data/, weights/, reports/.
- MLflow tracking is off (NIMA_TRACKING=off) unless a test switches it on.
- `../shared` (optional) stages the Keras ImageNet cache as KERAS_HOME, and idealo's weights into
  the temporary weights/ folder, as a user who ran `make weights` would have them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("NIMA_SHARED", ROOT.parent / "shared"))
IDEALO = SHARED / "weights" / "nima_mobilenet_aesthetic_idealo.hdf5"
IDEALO_FILENAME = "weights_mobilenet_aesthetic_0.07.hdf5"

if (SHARED / "keras-cache" / "models").is_dir() and "KERAS_HOME" not in os.environ:
    _cache = Path(tempfile.mkdtemp(prefix="nima-keras-home-"))
    shutil.copytree(SHARED / "keras-cache" / "models", _cache / "models")
    os.environ["KERAS_HOME"] = str(_cache)
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NIMA_TRACKING", "off")  # MLflow tracking is tested where asked (tests/test_tracking.py)

HOME = Path(tempfile.mkdtemp(prefix="nima-lab-home-"))
for _sub in ("data", "weights", "reports"):
    (HOME / _sub).mkdir()
if IDEALO.is_file():
    shutil.copy(IDEALO, HOME / "weights" / IDEALO_FILENAME)
os.environ["NIMA_LAB_HOME"] = str(HOME)
atexit.register(shutil.rmtree, HOME, ignore_errors=True)


def _generated(root: Path = ROOT) -> set[str]:
    """The files under the project's own data/, weights/ and reports/ (their READMEs aside)."""
    return {str(p.relative_to(root)) for sub in ("data", "weights", "reports") for p in (root / sub).rglob("*")
            if p.is_file() and p.name != "README.md"}


_BEFORE = _generated()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Fail the run when a test or notebook wrote into the user's data/, weights/ or reports/."""
    written = sorted(_generated() - _BEFORE)
    if written:
        print("\nTests wrote into the project's data/, weights/ or reports/ (they must use temporary folders):\n  "
              + "\n  ".join(written[:20]))
        session.exitstatus = 1


NOTEBOOK_02_DEFAULTS_TEST = "tests/notebooks/test_notebooks.py::test_02_train_defaults_beat_the_trivial_baseline"


def pytest_collection_modifyitems(config, items) -> None:
    """Notebook 02 with its defaults trains the demo preset (minutes on 2 cores). When the papermill test
    that runs it with those defaults and checks its figures is collected, nbval's own run of it is left
    out: the same notebook, same defaults, executed once per session instead of twice. (Without Keras'
    ImageNet file that test skips, and nbval's run stays.)"""
    imagenet = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / "mobilenet_1_0_224_tf.h5"
    if not imagenet.is_file() or not any(item.nodeid == NOTEBOOK_02_DEFAULTS_TEST for item in items):
        return
    twice = [item for item in items if item.nodeid.startswith("notebooks/02_train.ipynb::")]
    if twice:
        config.hook.pytest_deselected(items=twice)
        items[:] = [item for item in items if item not in twice]
        reporter = config.pluginmanager.get_plugin("terminalreporter")  # absent under -p no:terminal
        if reporter is not None:
            reporter.write_line(f"nbval: notebooks/02_train.ipynb runs with its defaults once, in "
                                f"{NOTEBOOK_02_DEFAULTS_TEST}")
