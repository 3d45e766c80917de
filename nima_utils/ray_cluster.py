"""Joining a Ray cluster for `nima score --ray` and `nima pipeline --ray` (`--ray [auto|ADDRESS]`)."""

from __future__ import annotations

import importlib.util
import os


def require_ray() -> None:
    """A one-line error (exit status 2 from the CLI) where the ray extra is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise ValueError("--ray needs Ray: pip install 'nima-lab[ray]' (the ray extra)")


def join(address: str) -> None:
    """Join the Ray cluster at `address` ('auto': RAY_ADDRESS or a local one, else start one), unless joined.
    A cluster started here has token authentication off, so nothing is written to the home folder."""
    import ray

    if not ray.is_initialized():
        if address == "auto" and "RAY_ADDRESS" not in os.environ:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address=None if address == "auto" else address, include_dashboard=False, log_to_driver=False)
