"""The `nima` command line: a thin layer over nima_utils."""

from __future__ import annotations

import argparse
import contextlib
import errno
import itertools
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


class UsageError(Exception):
    """A mistake in how `nima` was called: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `nima score: error: argument --batch-size: ... (see nima score --help)`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text: str, kind: type[int] | type[float], words: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _number(text, int, "a whole number of 1 or more")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return value


def _threshold(text: str) -> float:
    value = _number(text, float, "a number from 1 to 10")
    if not 1.0 <= value <= 10.0:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to 10, got {text!r}")
    return value


def _above_zero(words: str) -> Callable[[str], float]:
    """An option type: a finite number above 0, refused in `words` otherwise."""

    def parse(text: str) -> float:
        value = _number(text, float, words)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be {words}, got {text!r}")
        return value

    return parse


_megabytes = _above_zero("a size in MiB above 0")
_seconds = _above_zero("a number of seconds above 0")


def _port(text: str) -> int:
    value = _number(text, int, "a port number from 0 to 65535")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {text!r}")
    return value


def _check_inputs(paths: list[str]) -> None:
    """Every path named on the command line must exist (a usage error, before the model loads)."""
    for text in paths:
        try:
            os.stat(text)
        except (FileNotFoundError, NotADirectoryError):
            raise UsageError(f"{text} does not exist") from None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise UsageError(f"{text} does not exist (name too long)") from None
            # other trouble (permissions) is reported in that path's row


def _check_out(out: str) -> None:
    """`--out` must end in .csv or .jsonl and name a file in an existing folder we can write to."""
    from nima_utils.scoring import ResultWriter

    ResultWriter.format_for(out)
    path = Path(out)
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name ending in .csv or .jsonl")
    if not folder.exists():
        raise UsageError(f"--out {out}: folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"--out {out}: {folder} is not a folder")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write in {folder} ({exc.strerror or exc})") from None


def _check_out_not_input(out: str, inputs: list[Path]) -> None:
    if not os.path.exists(out):
        return
    for source in inputs:
        with contextlib.suppress(OSError):
            if os.path.samefile(out, source):
                raise UsageError(f"--out {out} is one of the inputs ({source}); it would be overwritten")


def _score_on_ray(args: argparse.Namespace, fmt: str) -> int:
    """`nima score --ray`: the shards scored on Ray, then every row written as `nima score` writes them."""
    from nima_utils.ray_cluster import require_ray

    require_ray()
    if args.shards is None and not args.out:
        raise UsageError("--ray needs --shards DIR (or --out FILE, whose shards go to FILE.shards)")
    from tqdm import tqdm

    from nima_utils.model.weights import default_weights
    from nima_utils.scoring import ResultWriter, results_file
    from nima_utils.serve.ray_scoring import RayScoring, score_with_ray

    job = RayScoring(str(args.weights or default_weights()), args.shards or Path(args.out + ".shards"),
                     args.engine, args.actors, batch_size=args.batch_size, threshold=args.threshold,
                     max_pixels=args.max_pixels)
    print(f"nima score: on Ray ({args.ray}), {args.engine} engine, weights {job.weights}, shards in {job.out_dir}",
          file=sys.stderr)
    failed = scored = 0
    with (tqdm(unit="img", file=sys.stderr, disable=args.quiet or None) as bar,
          results_file(args.out) if args.out else contextlib.nullcontext(sys.stdout) as out):
        def progress(done: int, total: int) -> None:
            bar.total, bar.n = total, done
            bar.refresh()

        writer = ResultWriter(out, fmt)
        for result in score_with_ray(job, args.paths, args.ray, progress):
            writer.write(result)
            scored, failed = scored + result.ok, failed + (not result.ok)
    where = f" -> {args.out}" if args.out else ""
    print(f"nima score: {scored} scored, {failed} failed{where}", file=sys.stderr)
    return 1 if failed else 0


def cmd_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nima_utils.images import scan_images
    from nima_utils.model.engine import load_engine
    from nima_utils.model.weights import choose_weights
    from nima_utils.scoring import ResultWriter, ScoreResult, results_file, score_images, shown_path

    _check_inputs(args.paths)
    if args.out:
        _check_out(args.out)
    fmt = ResultWriter.format_for(args.out) if args.out else "csv"
    if args.ray:
        return _score_on_ray(args, fmt)
    if args.actors or args.shards:
        raise UsageError("--actors and --shards go with --ray")
    scan = scan_images(args.paths)
    if args.out:
        _check_out_not_input(args.out, [*scan.files, *map(Path, args.paths)])
    if not scan.files and not scan.problems:
        print("nima score: no images found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    chosen = choose_weights(args.weights, given_as="given with --weights")
    print(f"nima score: {chosen.line()}", file=sys.stderr)
    engine = load_engine(chosen.path, args.engine)
    total = len(scan.files) + len(scan.problems)
    print(f"nima score: {total} images, {engine.name} engine", file=sys.stderr)
    failed = 0
    try:
        with results_file(args.out) if args.out else contextlib.nullcontext(sys.stdout) as out:
            writer = ResultWriter(out, fmt)
            unread = (ScoreResult(str(path), threshold=args.threshold, error=why) for path, why in scan.problems)
            scored = score_images(scan.files, engine, batch_size=args.batch_size, threshold=args.threshold,
                                  max_pixels=args.max_pixels)
            for result in tqdm(itertools.chain(unread, scored), total=total, unit="img", file=sys.stderr,
                               disable=args.quiet or None):
                writer.write(result)
                if not result.ok:
                    failed += 1
                    tqdm.write(f"  {shown_path(result.source)}: {result.error}", file=sys.stderr)
    except KeyboardInterrupt:
        if args.out:
            print(f"nima score: {args.out} left as it was; the rows scored so far are in {args.out}.partial",
                  file=sys.stderr)
        raise
    where = f" -> {args.out}" if args.out else ""
    print(f"nima score: {total - failed} scored, {failed} failed{where}", file=sys.stderr)
    return 1 if failed else 0


def cmd_weights(args: argparse.Namespace) -> int:
    from nima_utils.data.download import DownloadError
    from nima_utils.model import weights
    from nima_utils.paths import weights_dir

    folder = args.dir or weights_dir()
    if args.if_missing:
        trained = weights.trained_weights(folder)
        if trained:
            weights.verify_weights(trained[0])
            print(f"NIMA weights present and verified: {trained[0]}")
            return 0
    url = weights.idealo_file_url(args.url) if args.url else weights.IDEALO_URL
    try:
        _, what = weights.ensure_idealo(folder, url=url)
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}. {weights.IDEALO_FILENAME} is missing from {folder}/; to work offline, download it from the URL "
            f"above where you can and copy it into {folder}/ (any name: it is recognised by its fingerprint), "
            "or run `nima weights --url MIRROR`"
        ) from None
    print(what)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from nima_utils.model.engine import export_tflite
    from nima_utils.model.weights import choose_weights

    chosen = choose_weights(args.weights, given_as="given with --weights")
    print(f"nima export: {chosen.line()}", file=sys.stderr)
    out = export_tflite(chosen.path, args.out)
    print(f"LiteRT model written: {out} (model card {out.with_suffix('').name}.card.json)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from nima_utils.model.engine import load_engine
    from nima_utils.model.weights import choose_weights

    chosen = choose_weights(args.weights, given_as="given with --weights")
    print(f"nima serve: {chosen.line()}", file=sys.stderr)
    engine = load_engine(chosen.path, args.engine)  # fail here, with a clear message, not in the server
    from nima_utils.serve.app import Limits, ServiceConfig, create_app, serve

    mib = 1 << 20
    limits = Limits(max_file_bytes=int(args.max_file_mb * mib), max_request_bytes=int(args.max_request_mb * mib),
                    max_pixels=args.max_pixels, max_batch=args.max_batch, decode_seconds=args.decode_seconds,
                    header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                    max_connections=args.max_connections)
    config = ServiceConfig(weights=chosen.path, engine=args.engine, threshold=args.threshold, limits=limits)
    where = f"http://{args.host}:{args.port}/"
    print(f"nima serve: {engine.name} engine, {where}", file=sys.stderr)
    serve(create_app(config, engine), limits, args.host, args.port, args.log_level)
    return 0


_WEIGHTS_HELP = "weights file (default: one in weights/, human-vote models first; the choice is printed)"


def build_parser() -> argparse.ArgumentParser:
    from nima_utils import __version__
    from nima_utils.images import DEFAULT_MAX_PIXELS
    from nima_utils.scoring import DEFAULT_THRESHOLD
    parser = _Parser(prog="nima", description="NIMA Lab: neural image assessment.")
    parser.add_argument("--version", action="version", version=f"nima-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score photos (files and folders, recursive)")
    score.add_argument("paths", nargs="+", help="image files or folders")
    score.add_argument("--weights", type=Path, help=_WEIGHTS_HELP)
    score.add_argument("--out", help="write rows to FILE.csv or FILE.jsonl (default: CSV on stdout)")
    score.add_argument("--batch-size", type=_positive_int, default=32)
    score.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD,
                       help=f"accept if mean > threshold (default {DEFAULT_THRESHOLD})")
    score.add_argument("--engine", default="keras", choices=["keras", "tflite"],
                       help="tflite: LiteRT with XNNPACK, faster on CPU (converts Keras weights on the fly)")
    score.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS,
                       help=f"refuse larger images as possible decompression bombs (default {DEFAULT_MAX_PIXELS:,})")
    score.add_argument("--quiet", action="store_true", help="no progress bar")
    score.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                       help="score on Ray Data (auto: the running cluster, else a local one); also reads "
                            ".parquet tables of paths or image bytes and WebDataset .tar shards")
    score.add_argument("--actors", type=_positive_int, help="with --ray: model actors (default: one per GPU, else 1)")
    score.add_argument("--shards", type=Path, help="with --ray: folder of the Parquet result shards, kept to "
                                                  "resume a killed job (default: OUT.shards beside --out)")
    score.set_defaults(func=cmd_score)

    weights = sub.add_parser("weights", help="download and verify idealo's published NIMA weights")
    weights.add_argument("--dir", type=Path, help="destination folder (default weights/)")
    weights.add_argument("--url", help="download from this URL instead of idealo's GitHub: the file's, or a folder "
                                       "holding it under its published name")
    weights.add_argument("--if-missing", action="store_true",
                         help="keep weights already in the folder (trained ones, or idealo's under any name) once "
                              "their fingerprint checks out")
    weights.set_defaults(func=cmd_weights)

    export = sub.add_parser("export", help="convert NIMA weights to another format (LiteRT/TFLite)")
    export.add_argument("--format", choices=["tflite"], default="tflite")
    export.add_argument("--weights", type=Path, help=_WEIGHTS_HELP)
    export.add_argument("--out", type=Path, required=True, help="MODEL.tflite")
    export.set_defaults(func=cmd_export)

    serve = sub.add_parser("serve", help="run the HTTP scoring service (web page at /, API docs at /docs)")
    serve.add_argument("--weights", type=Path, help="weights file (.tflite for the tflite engine)")
    serve.add_argument("--engine", default="keras", choices=["keras", "tflite"])
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD)
    serve.add_argument("--max-file-mb", type=_megabytes, default=20.0, help="largest upload per file (MiB)")
    serve.add_argument("--max-request-mb", type=_megabytes, default=200.0, help="largest request body (MiB)")
    serve.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, help="decompression-bomb guard")
    serve.add_argument("--max-batch", type=_positive_int, default=64, help="most files in one batch request")
    serve.add_argument("--decode-seconds", type=_seconds, default=60.0,
                       help="a request's files must start decoding within this time, else 503 for them")
    serve.add_argument("--header-timeout", type=_seconds, default=10.0,
                       help="seconds for a request head to arrive (then 408 and the connection is closed)")
    serve.add_argument("--body-timeout", type=_seconds, default=120.0,
                       help="seconds for a request body to arrive whole (then 408 and the connection is closed)")
    serve.add_argument("--max-connections", type=_positive_int, default=512,
                       help="open connections at most; more get 503 at once")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=cmd_serve)

    from nima_utils.pipeline import cli as pipeline_cli
    from nima_utils.train import cli as train_cli

    train_cli.add_parser(sub)
    pipeline_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `nima`: user errors are one clear line on stderr and exit status 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from nima_utils.data.download import DownloadError
    from nima_utils.model.weights import WeightsError
    from nima_utils.pipeline.prerequisites import MissingWeightsError
    from nima_utils.pipeline.run import PipelineError

    try:
        return args.func(args)
    except PipelineError as exc:
        print(f"nima {args.command}: {exc}", file=sys.stderr)
        return 1
    except (UsageError, WeightsError, DownloadError, MissingWeightsError, ValueError, OSError) as exc:
        print(f"nima {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nima {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
