"""`nima pipeline CONFIG --ray`: each grid variant's 02 and 03 as one Ray task (a GPU each where the
cluster has GPUs, else a CPU; the rest queue), running the same step code as the sequential run.

The driver prints a line per step as its record arrives and merges the records in variant order, so
pipeline.json and index.html read as a sequential run's; only the timings differ."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nima_utils.pipeline.config import Variant
from nima_utils.pipeline.run import Runner, variant_steps
from nima_utils.ray_cluster import join

ENV_PREFIXES = ("NIMA_", "MLFLOW_", "KERAS_", "TF_", "CUDA_", "PYTHONPATH", "XLA_")
"""The driver's variables a variant's task gets: tracking (one MLflow experiment per run), the project's
folders and the Python path its notebook kernels import nima_utils from."""


def task_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}


def _variant_task(out: str, notebooks: dict[str, dict[str, Any]], variant: Variant, data_summary: str,
                  run: str) -> Iterator[dict[str, Any]]:
    yield from variant_steps(Path(out), notebooks, variant, data_summary, run)


def _crashed(variant: Variant, records: list[dict[str, Any]], exc: Exception) -> dict[str, Any]:
    """The record of a step whose Ray worker died (out of memory, a node lost): no page, the error."""
    notebook = "03_evaluate" if records else "02_train"
    page = f"{variant.name}/{notebook}" if variant.name else notebook
    error = {"notebook": notebook, "cell": None, "line": "", "variant": variant.name, "html": f"{page}.html",
             "error": f"the Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    return {"notebook": notebook, "variant": variant.name, "parameters": {}, "status": "failed", "seconds": 0.0,
            "ipynb": f"{page}.ipynb", "html": f"{page}.html", "log": "logs", "report_dir": page, "error": error}


def ray_variants(address: str = "auto") -> Callable[[Runner, str], None]:
    """The variants step of `Runner.run` on the Ray cluster at `address` (see nima_utils.ray_cluster.join)."""

    def variants(runner: Runner, data_summary: str) -> None:
        import ray

        join(address)
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(_variant_task).options(num_gpus=1 if gpus else 0, num_cpus=1,
                                                 runtime_env={"env_vars": task_env()})
        config = runner.config
        chosen = config.variants()
        out = str(runner.out.resolve())
        runner.echo(f"on Ray: {len(chosen)} variant task(s), " + ("a GPU each" if gpus else "a CPU each")
                    + f"; cluster {ray.cluster_resources().get('CPU', 0):g} CPUs, {gpus:g} GPUs")
        pending = {task.remote(out, config.notebooks, v, data_summary, config.run): i for i, v in enumerate(chosen)}
        records: list[list[dict[str, Any]]] = [[] for _ in chosen]
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending[ready[0]]
            try:
                record = ray.get(next(ready[0]))
            except StopIteration:
                del pending[ready[0]]
                continue
            except ray.exceptions.RayError as exc:
                record = _crashed(chosen[i], records[i], exc)
                del pending[ready[0]]
            runner.ended(record)
            records[i].append(record)
        for variant, done in zip(chosen, records, strict=True):
            runner.add_variant(variant, done)

    return variants
