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


def project_path(path: str | Path | None, keep: tuple[str, ...] = ()) -> str | None:
    """A notebook's path parameter, taken from the project root when it is relative (not from the
    kernel's working directory, which is notebooks/ under papermill --cwd notebooks and the pipeline).

    "" stays "" and None stays None (the notebook's or its preset's default), as do the words in `keep`
    that are not paths (e.g. "imagenet"); "~" is expanded and an absolute path is kept. A string, as the
    notebooks' parameters are.
    """
    if path is None:
        return None
    text = str(path)
    if not text or text in keep:
        return text
    return str(project_root() / Path(text).expanduser())


def resolve(folder: str | Path, default: Path) -> Path:
    """A notebook parameter that names a folder: "" means the project's default one."""
    return Path(folder) if str(folder) else default
