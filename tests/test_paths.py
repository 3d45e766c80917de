"""Notebook path parameters: a relative path is taken from the project root in every notebook."""

import ast
import json
from pathlib import Path

import pytest

from nima_utils.paths import project_path
from nima_utils.pipeline.config import notebook_parameters

ROOT = Path(__file__).resolve().parents[1]

# every parameter of each notebook that names a file or folder
PATH_PARAMETERS = {
    "01_ava_download_cleanup": {"data_dir", "report_dir", "local_dir"},
    "02_train": {"data_summary", "weights_dir", "initial_weights", "report_dir"},
    "03_evaluate": {"weights", "data_summary", "report_dir"},
    "04_sensitivity": {"weights", "images", "data_summary", "report_dir"},
    "05_explore": {"weights", "images", "data_summary", "report_dir"},
}


def test_relative_paths_are_taken_from_the_project_root(tmp_path, monkeypatch):
    monkeypatch.setenv("NIMA_LAB_HOME", str(tmp_path))
    monkeypatch.chdir(ROOT / "notebooks")
    assert project_path("weights/x.weights.h5") == str(tmp_path / "weights" / "x.weights.h5")
    assert project_path(Path("reports/01_ava/summary.json")) == str(tmp_path / "reports/01_ava/summary.json")
    assert project_path("/data/AVA") == "/data/AVA"
    assert project_path("~/AVA") == str(Path.home() / "AVA")
    assert project_path("") == ""
    assert project_path(None) is None  # notebook 02's "the preset's value"
    assert project_path(None, keep=("imagenet", "none")) is None
    assert project_path("imagenet", keep=("imagenet", "none")) == "imagenet"
    assert project_path("imagenet") == str(tmp_path / "imagenet")


def test_without_nima_lab_home_the_root_is_the_checkout(monkeypatch):
    monkeypatch.delenv("NIMA_LAB_HOME")
    monkeypatch.chdir(ROOT / "notebooks")
    assert project_path("weights/x.h5") == str(ROOT / "weights" / "x.h5")


def _rebound(source: str) -> set[str]:
    """Names rebound as `name = project_path(name, ...)` (tuples included) in a cell's source."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        pairs = zip(target.elts, value.elts, strict=False) if isinstance(target, ast.Tuple) and \
            isinstance(value, ast.Tuple) else [(target, value)]
        for name, call in pairs:
            if isinstance(name, ast.Name) and isinstance(call, ast.Call) and getattr(call.func, "id", "") == \
                    "project_path" and call.args and getattr(call.args[0], "id", "") == name.id:
                found.add(name.id)
    return found


@pytest.mark.parametrize("name", sorted(PATH_PARAMETERS))
def test_each_notebook_resolves_its_path_parameters_first(name):
    cells = [c for c in json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
             if c["cell_type"] == "code"]
    assert "parameters" in cells[0]["metadata"].get("tags", [])
    renamed = PATH_PARAMETERS[name] - set(notebook_parameters(name))
    assert not renamed, f"{renamed} are no parameters of {name} now: update PATH_PARAMETERS"
    assert _rebound("".join(cells[1]["source"])) == PATH_PARAMETERS[name]
