"""Runs a project notebook as a papermill job, from notebooks/ as a user's `--cwd notebooks` would."""

from pathlib import Path

import papermill as pm

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run(name: str, tmp_path: Path, **parameters) -> Path:
    """Execute notebooks/`name` with `parameters` into `tmp_path`; returns the executed copy."""
    out = tmp_path / name
    pm.execute_notebook(NOTEBOOKS / name, out, parameters=parameters, cwd=str(NOTEBOOKS), progress_bar=False,
                        kernel_name="python3")
    return out
