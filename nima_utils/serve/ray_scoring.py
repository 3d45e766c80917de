"""`nima score --ray`: batch scoring on Ray Data, resumable by shard.

Inputs are cut into shards (a chunk of image files, one Parquet table, one WebDataset tar); Ray tasks
decode and prepare the images exactly as `nima score` does (nima_utils.scoring.model_input), an actor
pool runs the model, and the driver writes each input shard's rows to its own Parquet file, atomically
(temporary file, then rename). A rerun skips the shards whose output file exists, so a killed job
started again loses no row and writes none twice. A bad image is a row with its error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nima_utils.images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, ImageLoadError, load_image, scan_images
from nima_utils.model.card import ModelCard, community_card, read_card
from nima_utils.ray_cluster import join
from nima_utils.scoring import DEFAULT_THRESHOLD, ScoreResult, merge_results, model_input

FILES_PER_SHARD = 256
"""Image files named or found in folders are cut into output shards of this many rows."""

BYTES_COLUMNS = ("image", "jpg", "jpeg", "png", "webp", "bytes")
"""A Parquet table's column of encoded images, the first one present (img2dataset writes `jpg`)."""

NAME_COLUMNS = ("key", "url", "path")
"""The column that names a row of image bytes in its results, the first one present."""

WDS_SUFFIXES = tuple(s.lstrip(".") for s in IMAGE_SUFFIXES)


class RayScoringError(ValueError):
    """An input `nima score --ray` cannot use (a table without image columns, say): one line."""


@dataclasses.dataclass
class Shard:
    """One unit of work and of output: its rows land in `<out>/<name>.parquet` all at once."""

    name: str
    kind: str  # "files", "parquet" or "tar"
    paths: list[str]
    rows: int | None  # expected number of rows, when known before reading


def _tag(path: str | Path) -> str:
    return hashlib.sha1(os.fsencode(os.path.abspath(path))).hexdigest()[:10]


def _tar_samples(path: Path) -> int:
    """Samples in a WebDataset tar with an image file (keys as Ray's reader groups them), from headers only."""
    keys = set()
    with tarfile.open(path) as tar:
        for member in tar:
            found = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", member.name)
            if member.isfile() and found and found.group(2).lower() in WDS_SUFFIXES:
                keys.add(found.group(1))
    return len(keys)


def plan_shards(paths: list[str], files_per_shard: int = FILES_PER_SHARD) -> tuple[list[Shard], list[tuple[str, str]]]:
    """The shards for `paths` (.parquet tables, .tar WebDataset shards, image files and folders), and
    (folder, reason) for folders that could not be listed."""
    import pyarrow.parquet as pq

    shards, loose = [], []
    for text in paths:
        suffix = Path(text).suffix.lower()
        if suffix == ".parquet" and Path(text).is_file():
            rows = pq.ParquetFile(text).metadata.num_rows
            shards.append(Shard(f"{Path(text).stem}-{_tag(text)}", "parquet", [text], rows))
        elif suffix == ".tar" and Path(text).is_file():
            shards.append(Shard(f"{Path(text).stem}-{_tag(text)}", "tar", [text], _tar_samples(Path(text))))
        else:
            loose.append(text)
    scan = scan_images(loose) if loose else None
    files = [str(p) for p in scan.files] if scan else []
    for start in range(0, len(files), files_per_shard):
        chunk = files[start : start + files_per_shard]
        tag = hashlib.sha1("\n".join(os.path.abspath(p) for p in chunk).encode("utf-8", "surrogateescape"))
        shards.append(Shard(f"files-{start // files_per_shard:05d}-{tag.hexdigest()[:10]}", "files", chunk, len(chunk)))
    problems = [(str(p), why) for p, why in scan.problems] if scan else []
    return shards, problems


def shard_file(out_dir: Path, shard: Shard) -> Path:
    return out_dir / f"{shard.name}.parquet"


# Every source dataset is normalised to these columns: the shard, the row's name in the results, and
# either the image's path (data empty) or its encoded bytes (path empty).
def _rows(shard: str, sources: list[str], paths: list[str], data: list[bytes]) -> dict[str, np.ndarray]:
    return {"shard": np.array([shard] * len(sources), dtype=object), "source": np.array(sources, dtype=object),
            "path": np.array(paths, dtype=object), "data": np.array(data, dtype=object)}


def _from_table(shard: str, table: str) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A batch of a Parquet table -> normalised rows: a `path` column of paths (relative to the table's
    folder), or a column of image bytes named by its key/url/path column."""
    folder = Path(table).parent

    def normalise(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        data_col = next((c for c in BYTES_COLUMNS if c in batch), None)
        if data_col is None:
            paths = [str(p) if os.path.isabs(p) else str(folder / p) for p in batch["path"]]
            return _rows(shard, paths, paths, [b""] * len(paths))
        names = batch[next(c for c in NAME_COLUMNS if c in batch)]
        data = [bytes(d) if d is not None else b"" for d in batch[data_col]]
        return _rows(shard, [f"{table}:{n}" for n in names], [""] * len(data), data)

    return normalise


def _from_tar(shard: str, tar: str) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A batch of WebDataset samples -> normalised rows named `<tar>/<key>`, the first image file of each."""

    def normalise(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = batch["__key__"]
        columns = [c for c in batch if c in WDS_SUFFIXES]
        data = []
        for i in range(len(keys)):
            found = next((batch[c][i] for c in columns if batch[c][i] is not None), b"")
            data.append(bytes(found))
        return _rows(shard, [f"{tar}/{k}" for k in keys], [""] * len(keys), data)

    return normalise


def _check_table(table: str) -> list[str]:
    """The columns to read from `table`; a table without a path or bytes column is refused in one line."""
    import pyarrow.parquet as pq

    names = pq.read_schema(table).names
    data_col = next((c for c in BYTES_COLUMNS if c in names), None)
    if data_col is None and "path" not in names:
        raise RayScoringError(f"{table}: no column of image paths (`path`) or bytes ({', '.join(BYTES_COLUMNS)})")
    if data_col is None:
        return ["path"]
    name_col = next((c for c in NAME_COLUMNS if c in names), None)
    if name_col is None:
        raise RayScoringError(f"{table}: a column naming each image ({', '.join(NAME_COLUMNS)}) is needed "
                              f"beside its bytes column `{data_col}`")
    return [data_col, name_col]


def source_dataset(shards: list[Shard], batch_size: int = 32) -> Any:
    """One Ray dataset of normalised rows for `shards`, read with Ray Data's readers."""
    import ray.data

    parts = []
    files = [(s.name, p) for s in shards if s.kind == "files" for p in s.paths]
    if files:
        items = [{"shard": name, "source": p, "path": p, "data": b""} for name, p in files]
        parts.append(ray.data.from_items(items, override_num_blocks=-(-len(items) // batch_size)))
    for s in shards:
        if s.kind == "parquet":
            ds = ray.data.read_parquet(s.paths[0]).select_columns(_check_table(s.paths[0]))
            parts.append(ds.map_batches(_from_table(s.name, s.paths[0]), batch_format="numpy"))
        elif s.kind == "tar":
            ds = ray.data.read_webdataset(s.paths[0], decoder=None, suffixes=list(WDS_SUFFIXES))
            parts.append(ds.map_batches(_from_tar(s.name, s.paths[0]), batch_format="numpy"))
    return parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]


def decode(batch: dict[str, np.ndarray], card: ModelCard, max_pixels: int) -> dict[str, np.ndarray]:
    """A Ray Data task: decode and prepare a batch as `nima score` does; a bad image keeps its error."""
    pixels = np.zeros((len(batch["source"]), card.input_size, card.input_size, 3), np.float32)
    errors = []
    for i, (path, data) in enumerate(zip(batch["path"], batch["data"], strict=True)):
        try:
            pixels[i] = model_input(load_image(path or bytes(data), max_pixels), card)
            errors.append("")
        except ImageLoadError as exc:
            errors.append(str(exc))
        except Exception as exc:  # as score_images: one image's trouble must not end the others' run
            errors.append(f"could not prepare the image ({type(exc).__name__}: {exc})")
    return {"shard": batch["shard"], "source": batch["source"], "pixels": pixels,
            "error": np.array(errors, dtype=object)}


class Model:
    """A Ray Data actor: one loaded engine scoring the batches' good images (NaN rows for the bad)."""

    def __init__(self, weights: str, engine: str) -> None:
        from nima_utils.model.engine import load_engine

        self.engine = load_engine(weights, engine)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = np.array([e == "" for e in batch["error"]], dtype=bool)
        probs = np.full((len(ok), 10), np.nan)
        if ok.any():
            probs[ok] = self.engine.predict(batch["pixels"][ok])
        return {"shard": batch["shard"], "source": batch["source"], "error": batch["error"], "probs": probs}


def decode_card(weights: str) -> ModelCard:
    """The card the decoding tasks follow, read without loading the model: the card beside the weights,
    else the community layout's (whose padding, which decoding does not use, is all `load_nima` adds)."""
    return read_card(weights) or community_card()


def batch_results(batch: dict[str, np.ndarray], threshold: float) -> list[tuple[str, ScoreResult]]:
    """(shard, result) for each row of a scored batch, in the batch's order."""
    errors = [str(e) or None for e in batch["error"]]
    outcomes = list(zip((str(s) for s in batch["source"]), errors, strict=True))
    good = np.asarray(batch["probs"])[[e is None for e in errors]]
    results = merge_results(outcomes, good.reshape(-1, 10), threshold)
    return list(zip((str(s) for s in batch["shard"]), results, strict=True))


def write_shard(path: Path, results: list[ScoreResult]) -> None:
    """Write `results` (sorted by source) to `path` atomically: a temporary file renamed over it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"path": r.source, **{k: v for k, v in r.to_dict().items() if k != "source"}}
            for r in sorted(results, key=lambda r: r.source)]
    schema = pa.schema([("path", pa.string()), ("mean", pa.float64()), ("std", pa.float64()),
                        ("probs", pa.list_(pa.float64())), ("decision", pa.string()), ("threshold", pa.float64()),
                        ("error", pa.string())])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def read_shard(path: Path) -> list[ScoreResult]:
    """The results in one output shard."""
    import pyarrow.parquet as pq

    return [ScoreResult(source=row.pop("path"), **row) for row in pq.read_table(path).to_pylist()]


@dataclasses.dataclass
class RayScoring:
    """What to score and how: the settings of one `nima score --ray` run."""

    weights: str
    out_dir: Path
    engine: str = "keras"
    actors: int | None = None  # default: one per GPU where the cluster has GPUs, else one
    actor_cpus: float = 1.0
    batch_size: int = 32
    threshold: float = DEFAULT_THRESHOLD
    max_pixels: int = DEFAULT_MAX_PIXELS
    files_per_shard: int = FILES_PER_SHARD


def run_shards(job: RayScoring, shards: list[Shard]) -> Iterator[int]:
    """Score the shards not yet written, writing each one as soon as all its rows are in; yields the
    number of rows in each scored batch as it arrives (for a progress bar). Ray must be running."""
    import ray
    import ray.data

    todo = [s for s in shards if not shard_file(job.out_dir, s).exists()]
    if not todo:
        return
    for shard in todo:  # what a killed run left half-written is written again from the start
        for torn in job.out_dir.glob(f".{shard_file(job.out_dir, shard).name}.*.tmp"):
            torn.unlink(missing_ok=True)
    card = decode_card(job.weights)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    scored = (source_dataset(todo, job.batch_size)
              .map_batches(decode, fn_kwargs={"card": card, "max_pixels": job.max_pixels},
                           batch_size=job.batch_size, batch_format="numpy")
              .map_batches(Model, fn_constructor_args=(job.weights, job.engine), batch_size=job.batch_size,
                           batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=job.actors or max(gpus, 1)),
                           num_gpus=1 if gpus else 0, num_cpus=job.actor_cpus))
    by_name = {s.name: s for s in todo}
    pending: dict[str, list[ScoreResult]] = {s.name: [] for s in todo}
    for batch in scored.iter_batches(batch_size=None, batch_format="numpy"):
        for name, result in batch_results(batch, job.threshold):
            pending[name].append(result)
            if len(pending[name]) == by_name[name].rows:
                write_shard(shard_file(job.out_dir, by_name[name]), pending.pop(name))
        yield len(batch["source"])
    for name, results in pending.items():  # counts known ahead were off: all rows are in now
        write_shard(shard_file(job.out_dir, by_name[name]), results)


def score_with_ray(job: RayScoring, paths: list[str], address: str = "auto",
                   progress: Callable[[int, int], None] | None = None) -> Iterator[ScoreResult]:
    """Score `paths` on Ray (joined at `address`), then yield every result: the unreadable folders'
    first, then each shard's rows in shard order. `progress(done, total)` is called as rows arrive."""
    shards, problems = plan_shards(paths, job.files_per_shard)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    total = sum(s.rows or 0 for s in shards)
    done = sum(s.rows or 0 for s in shards if shard_file(job.out_dir, s).exists())
    if progress:
        progress(done, total)
    if any(not shard_file(job.out_dir, s).exists() for s in shards):
        connect(address)
        for rows in run_shards(job, shards):
            done += rows
            if progress:
                progress(done, total)
    yield from (ScoreResult(p, threshold=job.threshold, error=why) for p, why in problems)
    for shard in shards:
        yield from read_shard(shard_file(job.out_dir, shard))


def connect(address: str) -> None:
    """Join the Ray cluster at `address` (nima_utils.ray_cluster.join) with Ray Data's console output off."""
    import ray.data

    join(address)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.op_resource_reservation_enabled = False
