"""Pipeline configs: one YAML that says which notebooks run with which parameters, checked whole
before any work (unknown keys, notebooks and parameters, wrong types, then values as each notebook
would judge them: one message naming them all)."""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

from nima_utils.pipeline.safe_yaml import excerpt, load_strict, plain_problems, size_problem

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = ("01_ava_download_cleanup", "02_train", "03_evaluate", "04_sensitivity", "05_explore")
TOP_KEYS = {"run": "report folder reports/<run>/ (letters, digits, . _ -)", "description": "a line for the index",
            "notebooks": "a parameter block per notebook to run", "grid": "lists of 02_train parameter values",
            "track": "true (default) or false: track training and evaluation runs in MLflow"}
WIRED = {  # parameters the pipeline sets itself: a config may not
    "01_ava_download_cleanup": ("report_dir",),
    "02_train": ("report_dir", "data_summary"),
    "03_evaluate": ("report_dir", "data_summary"),
    "04_sensitivity": ("report_dir", "data_summary"),
    "05_explore": ("report_dir", "data_summary"),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ConfigError(ValueError):
    """A pipeline config that cannot run; the message lists every problem found."""


@dataclasses.dataclass
class Variant:
    """One training setting of a sweep (a run without a grid has one, named "")."""

    name: str
    overrides: dict[str, Any]


@dataclasses.dataclass
class PipelineConfig:
    run: str
    description: str
    notebooks: dict[str, dict[str, Any]]
    grid: dict[str, list[Any]]
    path: Path | None = None
    text: str = ""
    track: bool = True

    def variants(self) -> list[Variant]:
        """The grid's combinations, in the order written (a single unnamed variant without a grid)."""
        if not self.grid:
            return [Variant("", {})]
        keys = list(self.grid)
        return [Variant(variant_name(dict(zip(keys, values, strict=True))), dict(zip(keys, values, strict=True)))
                for values in itertools.product(*(self.grid[k] for k in keys))]


def variant_name(overrides: dict[str, Any]) -> str:
    """`schedule-paper_head_lr-0.001`: readable, and a valid folder and run name (letters, digits, - _ .)."""
    text = "_".join(f"{k}-{v}" for k, v in overrides.items())
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def notebook_parameters(name: str) -> dict[str, dict[str, Any]]:
    """A notebook's parameters (its cell tagged `parameters`): name -> default and its type name.

    Read with `ast` rather than `papermill.inspect_notebook`, whose line parser skips assignments
    whose comments hold quotes or colons (several of ours)."""
    import ast
    import json

    notebook = json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    out = {}
    for node in ast.parse("".join(cell["source"])).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target  # `name: type = value`, as papermill --help-notebook shows best
        else:
            continue
        if isinstance(target, ast.Name):
            default = ast.literal_eval(node.value)
            kind = type(default).__name__
            if default is None and isinstance(node, ast.AnnAssign):  # `x: float = None`: a float, or None
                kind = ast.unparse(node.annotation) + "|None"
            out[target.id] = {"default": default, "inferred_type_name": kind}
    return out


def _coerce(value: Any, kind: str) -> tuple[Any, str | None]:
    """`value` as the type of the notebook's default, or a problem. YAML reads 1e-4 as text: accept it."""
    if kind.endswith("|None"):
        return (None, None) if value is None else _coerce(value, kind.removesuffix("|None"))
    if kind == "float":
        if isinstance(value, str):
            try:
                return float(value), None
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), None
        return value, "a number"
    if kind == "int":
        return (value, None) if isinstance(value, int) and not isinstance(value, bool) else (value, "a whole number")
    if kind == "bool":
        return (value, None) if isinstance(value, bool) else (value, "true or false")
    if kind == "str":
        return (value, None) if isinstance(value, str) else (value, "text")
    if kind == "list":  # our list parameters (archive_urls, perturbations) are lists of text
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        return (value, None) if ok else (value, "a list of text")
    return value, None


def _check_block(notebook: str, block: Any, known: dict[str, dict[str, Any]], where: str,
                 problems: list[str]) -> dict[str, Any]:
    if block is None:
        return {}
    if not isinstance(block, dict):
        problems.append(f"{where}: expected a mapping of parameters, got {type(block).__name__}")
        return {}
    out = {}
    for key, value in block.items():
        if key not in known:
            problems.append(f"{where}: unknown parameter {excerpt(key)} (known: {', '.join(known)})")
        elif key in WIRED[notebook]:
            problems.append(f"{where}: {key} is set by the pipeline (reports/<run>/..., notebook 01's summary.json)")
        else:
            coerced, expected = _coerce(value, known[key]["inferred_type_name"])
            if expected:
                problems.append(f"{where}: {key} must be {expected} like its default "
                                f"({excerpt(known[key]['default'])}), got {excerpt(value)}")
            out[key] = coerced
    return out


def parse(data: Any, path: Path | None = None, text: str = "") -> PipelineConfig:
    """Check a loaded config whole and return it; `ConfigError` lists every problem."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError(f"a pipeline config is a mapping with keys {', '.join(TOP_KEYS)}; got {type(data).__name__}")
    _refuse_unplain(data, path)
    for key in data:
        if key not in TOP_KEYS:
            known = "; ".join(f"{k}: {v}" for k, v in TOP_KEYS.items())
            problems.append(f"unknown key {excerpt(key)} (known: {known})")
    run = data.get("run")
    if not isinstance(run, str) or not _NAME.match(run):
        problems.append(f"run must name the report folder (letters, digits, . _ -; up to 64), got {excerpt(run)}")
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append("description must be text")
    track = data.get("track", True)
    if not isinstance(track, bool):
        problems.append(f"track must be true or false, got {str(track)[:40]!r}")
    blocks = data.get("notebooks")
    notebooks: dict[str, dict[str, Any]] = {}
    if not isinstance(blocks, dict) or not blocks:
        problems.append(f"notebooks must map notebook names to their parameters; names: {', '.join(NOTEBOOKS)}")
        blocks = {}
    for name, block in blocks.items():
        if name not in NOTEBOOKS:
            problems.append(f"unknown notebook {excerpt(name)} (known: {', '.join(NOTEBOOKS)})")
            continue
        notebooks[name] = _check_block(name, block, notebook_parameters(name), f"notebooks.{name}", problems)
    if blocks and NOTEBOOKS[0] not in blocks:
        problems.append(f"notebooks must include {NOTEBOOKS[0]} (it prepares the data the others read)")
    if "03_evaluate" in notebooks and "02_train" not in notebooks and not notebooks["03_evaluate"].get("weights"):
        problems.append("03_evaluate without 02_train needs its weights parameter set")
    grid = data.get("grid") or {}
    checked_grid: dict[str, list[Any]] = {}
    if not isinstance(grid, dict):
        problems.append("grid must map 02_train parameters to lists of values")
    elif grid:
        if "02_train" not in blocks:
            problems.append("a grid varies 02_train's parameters: add a 02_train block (it may be empty)")
        known = notebook_parameters("02_train")
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                problems.append(f"grid.{key}: expected a non-empty list of values, got {excerpt(values)}")
                continue
            if key in (notebooks.get("02_train") or {}):
                problems.append(f"grid.{key}: also set in notebooks.02_train; set it in one place")
            checked = [_check_block("02_train", {key: v}, known, f"grid.{key}", problems).get(key) for v in values]
            if key in known and key not in WIRED["02_train"]:
                checked_grid[key] = checked
    config = PipelineConfig(run=run, description=description, notebooks={n: notebooks[n] for n in NOTEBOOKS
                                                                         if n in notebooks},
                            grid=checked_grid, path=path, text=text, track=track is not False)
    if not problems:  # the types are right: now the values, as each notebook's first cell would judge them
        problems = value_problems(config)
    if problems:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}{len(problems)} problem(s) in the pipeline config:\n  - " + "\n  - ".join(problems))
    return config


def _refuse_unplain(data: dict, path: Path | None) -> None:
    """Refuse at once (before any message quotes a value) a config of absurd expanded size or one
    holding anything but plain JSON-like values, at any depth: papermill would write those into a
    notebook's parameters cell as raw Python text."""
    where = f"{path}: " if path else ""
    problem = size_problem(data)
    if problem:
        raise ConfigError(f"{where}{problem}")
    problems = plain_problems(data, "config")
    if problems:
        raise ConfigError(f"{where}{len(problems)} problem(s) in the pipeline config:\n  - " + "\n  - ".join(
            problems[:10]) + (f"\n  - ... and {len(problems) - 10} more" if len(problems) > 10 else ""))


FROM_NOTEBOOK_01 = {"02_train": {"resize_size": "cache_size"}}
"""Parameters a notebook takes from notebook 01's (through its summary.json), by name there."""


def value_problems(config: PipelineConfig) -> list[str]:
    """What each notebook's own parameter check would refuse, found before notebook 01 downloads
    anything: each notebook's parameter dataclass (`params.NOTEBOOK_PARAMETERS`) on its values,
    checking what needs no data yet (02's cache and 03's split are made by 01)."""
    from nima_utils.params import parameter_class

    def full(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        values = {k: v["default"] for k, v in notebook_parameters(name).items()}
        return {**values, **config.notebooks[name], **(overrides or {})}

    first = full(NOTEBOOKS[0])
    problems: list[str] = []
    for name in config.notebooks:
        variants = config.variants() if name == "02_train" else [Variant("", {})]
        for variant in variants:
            values = {**full(name, variant.overrides),
                      **{k: first[v] for k, v in FROM_NOTEBOOK_01.get(name, {}).items()}}
            where = f"grid variant {variant.name}" if variant.name else f"notebooks.{name}"
            try:
                parameters = parameter_class(name).from_values(values)
            except ValueError as exc:  # an unknown training preset
                problems.append(f"{where}: {exc}")
                continue
            problems += [f"{where}: {p}" for p in parameters.setting_problems()]
    return problems


def load(path: str | Path) -> PipelineConfig:
    """Read and check a YAML pipeline config."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the pipeline config {path}: {exc.strerror or exc}") from None
    try:
        data = load_strict(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(data, path, text)
