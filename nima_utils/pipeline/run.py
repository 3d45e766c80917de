"""`nima pipeline CONFIG.yaml`: notebooks 01 -> 05 as papermill jobs from one config, into
reports/<run>/ (executed notebooks, readable HTML pages, logs, figures, pipeline.json, index.html).

With a grid, every variant trains (02) and is evaluated (03) under its own run name; 04 and 05 run once."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nima_utils import tracking
from nima_utils.native_stderr import redirected
from nima_utils.paths import reports_dir
from nima_utils.pipeline import report as pipeline_report
from nima_utils.pipeline.config import NOTEBOOK_DIR, PipelineConfig, Variant

RESULT_FILE = "pipeline.json"


class PipelineError(RuntimeError):
    """A notebook failed: the message names it, the cell and the error; the partial output is kept."""


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send this process's (and so the kernel's) stderr file descriptor to `path` while running:
    TensorFlow's C++ log lines go to the log, not the terminal."""
    with open(path, "wb") as sink, redirected(sink):
        yield


def _failure(exc: Any, notebook: str) -> dict[str, Any]:
    """What a PapermillExecutionError says: the cell (index in the output notebook), its first line, the error."""
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    return {"notebook": notebook, "cell": getattr(exc, "cell_index", None),
            "line": source[0] if source else "", "error": f"{getattr(exc, 'ename', type(exc).__name__)}: "
                                                          f"{getattr(exc, 'evalue', exc)}"}


def execute(out: Path, notebook: str, parameters: dict[str, Any], variant: str = "") -> dict[str, Any]:
    """Run one notebook into the run folder `out` (page, HTML, log); returns its step record: status "ok"
    with its summary.json, or "failed" with `error` (notebook, cell, line, error). The same code runs a step
    in the driver and in a Ray task."""
    import papermill as pm

    folder = out / variant if variant else out
    page = folder / f"{notebook}.ipynb"
    report_dir = folder / notebook
    log = out / "logs" / (f"{variant}__{notebook}.log" if variant else f"{notebook}.log")
    folder.mkdir(parents=True, exist_ok=True)
    parameters = {**parameters, "report_dir": str(report_dir.resolve())}
    record = {"notebook": notebook, "variant": variant, "parameters": parameters, "status": "running",
              "ipynb": str(page.relative_to(out)), "html": str(page.with_suffix(".html").relative_to(out)),
              "log": str(log.relative_to(out)), "report_dir": str(report_dir.relative_to(out))}
    start = time.monotonic()
    error = None
    with tempfile.TemporaryDirectory() as tmp:
        kernel_log = Path(tmp) / "stderr.log"
        try:
            with _stderr_to(kernel_log):
                pm.execute_notebook(str(NOTEBOOK_DIR / f"{notebook}.ipynb"), str(page), parameters=parameters,
                                    cwd=str(NOTEBOOK_DIR), kernel_name="python3", progress_bar=False,
                                    log_output=False)
        except pm.PapermillExecutionError as exc:
            error = _failure(exc, notebook)
        except Exception as exc:  # the kernel died, papermill could not start it...
            error = {"notebook": notebook, "cell": None, "line": "", "error": f"{type(exc).__name__}: {exc}"}
        extra = kernel_log.read_text(errors="replace")
    record["seconds"] = round(time.monotonic() - start, 1)
    if page.exists():
        from nima_utils.pipeline.html import export_html, write_log  # nbconvert: seconds to import

        write_log(page, log, extra)
        export_html(page)
    else:
        log.write_text(extra)
    summary_path = report_dir / "summary.json"
    if error is None and not summary_path.is_file():
        error = {"notebook": notebook, "cell": None, "line": "", "error": f"it wrote no {summary_path}"}
    if error is not None:
        record["status"], error["html"], error["variant"] = "failed", record["html"], variant
        record["error"] = error
    else:
        record["status"], record["summary"] = "ok", json.loads(summary_path.read_text())
    return record


def variant_steps(out: Path, notebooks: dict[str, dict[str, Any]], variant: Variant, data_summary: str, run: str,
                  starting: Callable[[str, str], None] = lambda notebook, variant: None) -> Iterator[dict[str, Any]]:
    """One grid variant: 02 trains under the variant's run name, then 03 evaluates those weights; yields
    each step's record as it ends (03 is skipped if 02 failed). A Ray task runs this same generator."""
    train: dict[str, Any] = {}
    if "02_train" in notebooks:
        params = {**notebooks["02_train"], **variant.overrides, "data_summary": data_summary}
        base = params.get("run_name") or run
        params["run_name"] = f"{base}-{variant.name}" if variant.name else base
        starting("02_train", variant.name)
        record = execute(out, "02_train", params, variant.name)
        yield record
        if record["status"] != "ok":
            return
        train = record["summary"]
    if "03_evaluate" in notebooks:
        params = {"weights": train.get("weights", ""), **notebooks["03_evaluate"], "data_summary": data_summary}
        starting("03_evaluate", variant.name)
        yield execute(out, "03_evaluate", params, variant.name)


def _where(error: dict[str, Any]) -> str:
    return f"cell {error['cell']} ({error['line']})" if error["cell"] is not None else "before any cell"


class Runner:
    """Runs one config's notebooks in order, recording each step in pipeline.json as it goes. A failed
    grid variant is recorded and the others go on; 04 and 05 run if at least one variant succeeded."""

    def __init__(self, config: PipelineConfig, root: Path, echo: Callable[[str], None]) -> None:
        self.config, self.echo = config, echo
        self.out = root / config.run
        self.total = sum(1 + (len(config.variants()) - 1) * (n in ("02_train", "03_evaluate"))
                         for n in config.notebooks)
        self.done = 0
        self.result: dict[str, Any] = {
            "run": config.run, "description": config.description, "status": "running",
            "config": str(config.path) if config.path else None, "config_text": config.text,
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "provenance": pipeline_report.provenance(), "steps": [], "variants": [], "failure": None,
            "variant_failures": [],
        }

    def prepare(self) -> None:
        """An empty run folder: a previous run of the same name is replaced; a foreign folder is refused."""
        if self.out.exists() and any(self.out.iterdir()) and not (self.out / RESULT_FILE).exists():
            raise ValueError(f"{self.out} exists and is not a pipeline run's folder (no {RESULT_FILE}); "
                             "choose another run name or move it")
        shutil.rmtree(self.out, ignore_errors=True)
        (self.out / "logs").mkdir(parents=True)

    def starting(self, notebook: str, variant: str = "") -> None:
        self.echo(f"[{self.done + 1}/{self.total}] {notebook}" + (f" [{variant}]" if variant else "") + " ...")

    def ended(self, record: dict[str, Any]) -> None:
        """The progress line of a finished step (in the driver, as its record arrives)."""
        self.done += 1
        label = f"[{self.done}/{self.total}] {record['notebook']}" + (f" [{record['variant']}]" if record["variant"]
                                                                      else "")
        if record["status"] == "ok":
            self.echo(f"{label} ok in {record['seconds']:.1f} s -> {self.out / record['html']}")
        else:
            self.echo(f"{label} FAILED after {record['seconds']:.1f} s")

    def step(self, notebook: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """Run one shared notebook (01, 04, 05); returns its summary.json. Raises `PipelineError` if it fails."""
        self.starting(notebook)
        record = execute(self.out, notebook, parameters)
        self.result["steps"].append(record)
        self.ended(record)
        if record["status"] != "ok":
            self.fail(record["error"])
        self.save()
        return record["summary"]

    def fail(self, error: dict[str, Any]) -> None:
        self.result["status"], self.result["failure"] = "failed", error
        self.finish()
        raise PipelineError(f"notebook {error['notebook']} failed in {_where(error)}: {error['error']}\n"
                            f"partial output kept: {self.out / error['html']} (log: {self.out / 'logs'})")

    def save(self) -> None:
        (self.out / RESULT_FILE).write_text(json.dumps(self.result, indent=2, default=str) + "\n")

    def finish(self) -> None:
        self.result["seconds"] = round(sum(s.get("seconds", 0.0) for s in self.result["steps"]), 1)
        pipeline_report.write_run(self.out, self.result)
        self.save()
        pipeline_report.write_overview(self.out.parent)

    def add_variant(self, variant: Variant, records: list[dict[str, Any]]) -> None:
        """Record a finished variant's steps and its entry (train and test summaries, or its failure)."""
        entry: dict[str, Any] = {"name": variant.name, "overrides": variant.overrides}
        for record in records:
            self.result["steps"].append(record)
            if record["status"] == "ok":
                entry["train" if record["notebook"] == "02_train" else "test"] = record["summary"]
            else:
                entry["failure"] = record["error"]
                self.result["variant_failures"].append(record["error"])
        self.result["variants"].append(entry)
        self.save()

    def sequential_variants(self, data_summary: str) -> None:
        for variant in self.config.variants():
            records = []
            for record in variant_steps(self.out, self.config.notebooks, variant, data_summary, self.config.run,
                                        self.starting):
                self.ended(record)
                records.append(record)
            self.add_variant(variant, records)

    def run(self, variants: Callable[[Runner, str], None] | None = None) -> dict[str, Any]:
        """01, then the variants (`variants(self, data_summary)`; default: one after the other), then 04, 05."""
        nb = self.config.notebooks
        self.step("01_ava_download_cleanup", nb["01_ava_download_cleanup"])
        data_summary = str((self.out / "01_ava_download_cleanup" / "summary.json").resolve())
        (variants or Runner.sequential_variants)(self, data_summary)
        failures = self.result["variant_failures"]
        if failures and len(failures) == len(self.result["variants"]):
            self.fail(failures[0])
        for name in ("04_sensitivity", "05_explore"):
            if name in nb:
                self.step(name, {**nb[name], "data_summary": data_summary})
        self.result["status"] = "failed" if failures else "ok"
        self.finish()
        return self.result


def variant_failure_message(result: dict[str, Any], out: Path) -> str:
    """One line per failed variant: the variant, notebook, cell and error, and where its partial page is."""
    return "\n".join(f"variant {e['variant']}: notebook {e['notebook']} failed in {_where(e)}: {e['error']} "
                     f"(partial output kept: {out / e['html']})" for e in result["variant_failures"])


@contextlib.contextmanager
def _tracking_env(config: PipelineConfig, track: bool) -> Iterator[None]:
    """The notebooks' kernels inherit this: one MLflow experiment per pipeline run (a run per sweep
    variant), or no tracking at all."""
    values = {tracking.EXPERIMENT_ENV: f"pipeline-{config.run}"}
    if not (track and config.track):
        values[tracking.TRACKING_ENV] = "off"
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _log_pages(result: dict[str, Any], out: Path) -> None:
    """Attach the index and a variant's own pages (and the shared ones) to its training run in MLflow."""
    for variant in result["variants"]:
        weights = variant.get("train", {}).get("weights")
        if weights:
            pages = [out / s["html"] for s in result["steps"] if s["variant"] in ("", variant["name"])]
            tracking.log_report([Path(weights).parent], [out / "index.html", *pages])


def run(config: PipelineConfig, root: str | Path | None = None, check_weights: bool = True,
        echo: Callable[[str], None] = lambda line: print(line, flush=True), track: bool = True,
        ray: str | None = None, **urls: str) -> dict[str, Any]:
    """Run a checked config into `root`/<run>/ (default reports/). Returns what pipeline.json holds.

    `urls` (keras_base_url, idealo_url) replace where missing weights are downloaded from; `track`
    False (or the config's `track: false`) keeps the runs out of MLflow. `ray` (auto or a cluster's address)
    runs the grid's variants as Ray tasks. A failed variant raises `PipelineError` after the others and
    04, 05 have run (see Runner)."""
    from nima_utils.pipeline import prerequisites

    root = Path(root) if root else reports_dir()
    if check_weights:
        prerequisites.ensure(prerequisites.needed(config, **urls), echo=echo)
    runner = Runner(config, root, echo)
    runner.prepare()
    echo(f"pipeline {config.run}: {runner.total} notebook runs into {runner.out}/")
    with _tracking_env(config, track):
        if ray:
            from nima_utils.pipeline.ray_sweep import ray_variants

            result = runner.run(ray_variants(ray))
        else:
            result = runner.run()
        _log_pages(result, runner.out)
    echo(f"report: {runner.out / 'index.html'} ({result['seconds']:.0f} s of notebooks); "
         f"all runs: {root / 'index.html'}")
    if result["variant_failures"]:
        raise PipelineError(variant_failure_message(result, runner.out))
    return result
