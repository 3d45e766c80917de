"""Pipeline stage (`nima pipeline CONFIG.yaml`, `make demo`): notebooks 01 -> 05 as papermill jobs.

`config` reads and checks a YAML config whole before any work, `prerequisites` fetches the weights a
run needs, `run` executes the notebooks, `html` turns them into readable pages and logs, `report`
writes the run's index page, `cli` is `nima pipeline`.
"""

from nima_utils._exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "load": "config", "PipelineConfig": "config", "ConfigError": "config",
    "PipelineError": "run",
    "export_html": "html", "write_run": "report",
})
