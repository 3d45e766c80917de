"""Where NIMA Lab keeps downloads, weights and reports."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """$NIMA_LAB_HOME, else the nearest parent of the working directory holding NIMA Lab's
    pyproject.toml (so notebooks in notebooks/ find ../weights), else the working directory."""
    env = os.environ.get("NIMA_LAB_HOME")
    if env:
        return Path(env).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "nima_utils").is_dir():
            return folder
    return here


def weights_dir() -> Path:
    return project_root() / "weights"


def data_dir() -> Path:
    return project_root() / "data"


def reports_dir() -> Path:
    return project_root() / "reports"


def resolve(folder: str | Path, default: Path) -> Path:
    """A notebook parameter that names a folder: "" means the project's default one."""
    return Path(folder) if str(folder) else default
