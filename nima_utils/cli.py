"""The `nima` command line: a thin layer over nima_utils."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _threshold(text: str) -> float:
    value = float(text)
    if not 1.0 <= value <= 10.0:
        raise argparse.ArgumentTypeError(f"must lie between 1 and 10, got {text}")
    return value


def cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nima_utils.engine import load_engine
    from nima_utils.images import find_images
    from nima_utils.scoring import ResultWriter, score_images

    fmt = ResultWriter.format_for(args.out) if args.out else "csv"
    files = find_images(args.paths)
    if not files:
        print("nima score: no images found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    engine = load_engine(args.weights, args.engine)
    print(f"nima score: {len(files)} images, {engine.name} engine, weights {engine.weights}", file=sys.stderr)
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    failed = 0
    try:
        writer = ResultWriter(out, fmt)
        results = score_images(files, engine, batch_size=args.batch_size, threshold=args.threshold)
        for result in tqdm(results, total=len(files), unit="img", file=sys.stderr, disable=args.quiet or None):
            writer.write(result)
            if not result.ok:
                failed += 1
                tqdm.write(f"  {result.source}: {result.error}", file=sys.stderr)
    finally:
        if out is not sys.stdout:
            out.close()
    where = f" -> {args.out}" if args.out else ""
    print(f"nima score: {len(files) - failed} scored, {failed} failed{where}", file=sys.stderr)
    return 1 if failed else 0


def cmd_weights(args: argparse.Namespace) -> int:
    from nima_utils.weights import WeightsError, default_weights, fetch_idealo

    if args.if_missing:
        try:
            print(f"NIMA weights present: {default_weights(args.dir)}")
            return 0
        except WeightsError:
            pass
    from nima_utils.download import DownloadError
    from nima_utils.weights import IDEALO_FILENAME, weights_dir

    try:
        path = fetch_idealo(args.dir, url=args.url)
    except DownloadError as exc:
        folder = args.dir or weights_dir()
        raise DownloadError(f"{exc}\nWithout access to that URL: download {IDEALO_FILENAME} elsewhere and copy it "
                            f"into {folder}/, or pass --url with a mirror.") from None
    print(f"idealo NIMA weights ready and verified: {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from nima_utils.engine import export_tflite
    from nima_utils.weights import default_weights

    out = export_tflite(args.weights or default_weights(), args.out)
    print(f"LiteRT model written: {out} (model card {out.with_suffix('').name}.card.json)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from nima_utils.engine import load_engine
    from nima_utils.service import Limits, ServiceConfig, create_app

    mib = 1 << 20
    limits = Limits(max_file_bytes=int(args.max_file_mb * mib), max_request_bytes=int(args.max_request_mb * mib),
                    max_pixels=args.max_pixels, max_batch=args.max_batch)
    config = ServiceConfig(weights=args.weights, engine=args.engine, threshold=args.threshold, limits=limits)
    engine = load_engine(args.weights, args.engine)  # fail here, with a clear message, not in the server
    where = f"http://{args.host}:{args.port}/"
    print(f"nima serve: {engine.name} engine, weights {engine.weights}, {where}", file=sys.stderr)
    uvicorn.run(create_app(config, engine), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from nima_utils import __version__
    from nima_utils.scoring import DEFAULT_THRESHOLD
    from nima_utils.weights import IDEALO_URL

    parser = argparse.ArgumentParser(prog="nima", description="NIMA Lab: neural image assessment.")
    parser.add_argument("--version", action="version", version=f"nima-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score photos (files and folders, recursive)")
    score.add_argument("paths", nargs="+", help="image files or folders")
    score.add_argument("--weights", type=Path, help="weights file (default: newest in weights/, else idealo's)")
    score.add_argument("--out", help="write rows to FILE.csv or FILE.jsonl (default: CSV on stdout)")
    score.add_argument("--batch-size", type=_positive_int, default=32)
    score.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD,
                       help=f"accept if mean > threshold (default {DEFAULT_THRESHOLD})")
    score.add_argument("--engine", default="keras", choices=["keras", "tflite"],
                       help="tflite: LiteRT with XNNPACK, faster on CPU (converts Keras weights on the fly)")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.set_defaults(func=cmd_score)

    weights = sub.add_parser("weights", help="download and verify idealo's published NIMA weights")
    weights.add_argument("--dir", type=Path, help="destination folder (default weights/)")
    weights.add_argument("--url", default=IDEALO_URL, help="download from this URL or mirror instead")
    weights.add_argument("--if-missing", action="store_true", help="do nothing if weights/ already has weights")
    weights.set_defaults(func=cmd_weights)

    export = sub.add_parser("export", help="convert NIMA weights to another format (LiteRT/TFLite)")
    export.add_argument("--format", choices=["tflite"], default="tflite")
    export.add_argument("--weights", type=Path, help="weights file (default: newest in weights/, else idealo's)")
    export.add_argument("--out", type=Path, required=True, help="MODEL.tflite")
    export.set_defaults(func=cmd_export)

    serve = sub.add_parser("serve", help="run the HTTP scoring service (web page at /, API docs at /docs)")
    serve.add_argument("--weights", type=Path, help="weights file (.tflite for the tflite engine)")
    serve.add_argument("--engine", default="keras", choices=["keras", "tflite"])
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD)
    serve.add_argument("--max-file-mb", type=float, default=20.0, help="largest upload per file (MiB)")
    serve.add_argument("--max-request-mb", type=float, default=200.0, help="largest request body (MiB)")
    serve.add_argument("--max-pixels", type=_positive_int, default=50_000_000, help="decompression-bomb guard")
    serve.add_argument("--max-batch", type=_positive_int, default=64, help="most files in one batch request")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=cmd_serve)

    from nima_utils import train_cli

    train_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `nima`: user errors are one clear line on stderr and exit status 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from nima_utils.download import DownloadError
    from nima_utils.weights import WeightsError

    try:
        return args.func(args)
    except (WeightsError, DownloadError, ValueError, OSError) as exc:
        print(f"nima {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nima {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
