"""`nima pipeline CONFIG.yaml`: notebooks 01 -> 05 from one config into reports/<run>/ (see nima_utils.pipeline.run)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("pipeline", help="run notebooks 01 -> 05 from a YAML config into reports/<run>/",
                            description="Run notebooks 01 -> 05 with papermill from one YAML config (configs/) "
                                        "into reports/<run>/: pages, logs, figures, index.html.")
    parser.add_argument("config", type=Path, help="the YAML config, e.g. configs/demo.yaml")
    parser.add_argument("--reports", type=Path, help="folder of run folders (default: the project's reports/)")
    parser.add_argument("--check", action="store_true",
                        help="check the config, list the weights it needs (present or missing); run and fetch nothing")
    parser.add_argument("--keras-url", help="where to download Keras' ImageNet weights from: a folder laid out as "
                                            "storage.googleapis.com/tensorflow/keras-applications/, or the file's URL")
    parser.add_argument("--idealo-url", help="where to download idealo's NIMA weights from: the file's URL or its "
                                             "folder (as nima weights --url)")
    parser.add_argument("--no-track", dest="track", action="store_false",
                        help="keep the training and evaluation runs out of MLflow (as the config's track: false)")
    parser.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                        help="run the grid's variants (02 then 03 each) as Ray tasks, a GPU each where the cluster "
                             "has GPUs (auto: the running cluster, else a local one)")
    parser.set_defaults(func=cmd_pipeline)


def cmd_pipeline(args: argparse.Namespace) -> int:
    import importlib.util

    from nima_utils.pipeline import config as pipeline_config
    from nima_utils.pipeline import prerequisites
    from nima_utils.pipeline import run as pipeline

    missing = [m for m in ("papermill", "nbconvert") if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(f"needs {' and '.join(missing)} (the dev extra): pip install -e '.[cpu,dev]' or make setup")
    if args.ray:
        from nima_utils.ray_cluster import require_ray

        require_ray()
    config = pipeline_config.load(args.config)
    urls = {k: v for k, v in (("keras_base_url", args.keras_url), ("idealo_url", args.idealo_url)) if v}
    if args.check:
        print(f"{args.config}: ok, {len(config.variants())} training variant(s); weights it needs:")
        for item in prerequisites.needed(config, **urls):
            state = "present" if prerequisites.present(item) else f"missing, will be fetched from {item.url}"
            print(f"  {item.what}: {state}")
        return 0
    pipeline.run(config, args.reports, track=args.track, ray=args.ray, **urls)
    return 0
