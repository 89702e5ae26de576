"""Restartable batch jobs on Ray: shards in, shards out, each shard done exactly once.

[`run_batch`][ctx_core.batch.runner.run_batch] plans the input into shards ([`ctx_core.batch.shards`][ctx_core.batch.shards]), saves
the plan in the output folder, and hands the shards that have no output file yet to a
pool of Ray actors (``Dataset.map_batches`` with an actor pool): each actor builds the
transform once (one model load per worker), then for each shard reads its rows, runs
the transform and writes the shard's output file atomically. Run it again on the same
output folder after a failure or a kill and it does only the missing shards.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ctx_core.batch.shards import (
    FORMATS,
    MANIFEST_NAME,
    SUCCESS_NAME,
    Shard,
    fingerprint,
    list_inputs,
    plan_shards,
    read_shard,
    shard_filename,
    write_shard,
)
from ctx_core.batch.transforms import BatchTransform, records_from_batch, resolve_transform
from ctx_core.errors import CtxError, require
from ctx_core.progress import progress

__all__ = ["BatchResult", "JobMismatchError", "run_batch"]

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1


class JobMismatchError(CtxError, ValueError):
    """The output folder holds a different job (other transform, options or input)."""


@dataclass
class BatchResult:
    """What one call of [`run_batch`][ctx_core.batch.runner.run_batch] did.

    Attributes:
        output: The output folder.
        shards: Shards in the job.
        rows: Rows in the job.
        shards_skipped: Shards already done by an earlier run (not redone).
        shards_done: Shards this run processed.
        rows_done: Rows this run processed.
        seconds: Wall time of this run's processing (planning and Ray start-up excluded).
        workers: Size of the actor pool.
        shard_seconds: Processing time of each shard this run did, by shard index.
    """

    output: str
    shards: int
    rows: int
    shards_skipped: int
    shards_done: int
    rows_done: int
    seconds: float
    workers: int
    shard_seconds: dict[int, float] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Throughput of this run (0 when it had nothing to do)."""
        return self.rows_done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``rows_per_second``)."""
        return {**asdict(self), "rows_per_second": self.rows_per_second}


class _ShardWorker:
    """Ray actor body: builds the transform once, then processes whole shards."""

    def __init__(
        self,
        transform: str | type[BatchTransform],
        options: Mapping[str, Any],
        output: str,
        output_format: str,
        batch_size: int,
    ) -> None:
        self.transform: BatchTransform = _transform_class(transform)(**dict(options))
        self.output = Path(output)
        self.output_format = output_format
        self.batch_size = batch_size

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        done = []
        for item in records_from_batch(batch):
            shard = Shard.from_dict(item)
            started = time.perf_counter()
            rows = read_shard(shard)
            out: list[dict[str, Any]] = []
            for i in range(0, len(rows), self.batch_size):
                out.extend(self.transform.process(rows[i : i + self.batch_size]))
            if len(out) != len(rows):
                raise RuntimeError(
                    f"transform {self.transform.name!r} returned {len(out)} rows for {len(rows)}"
                )
            write_shard(
                out,
                self.output / shard_filename(shard.index, self.output_format),
                self.output_format,
            )
            done.append(
                {
                    "index": shard.index,
                    "rows": len(out),
                    "seconds": time.perf_counter() - started,
                    "pid": os.getpid(),
                }
            )
        return pa.Table.from_pylist(done)


def _transform_class(transform: str | type[BatchTransform]) -> type[BatchTransform]:
    if isinstance(transform, str):
        return resolve_transform(transform)
    if isinstance(transform, type) and issubclass(transform, BatchTransform):
        return transform
    raise TypeError(
        f"transform must be a registered name or a BatchTransform subclass, got {transform!r}"
    )


def _transform_name(transform: str | type[BatchTransform]) -> str:
    if isinstance(transform, str):
        return transform
    return f"{transform.__module__}:{transform.__qualname__}"


def _describe(value: Any) -> str:
    """How a value JSON cannot hold (e.g. a scorer factory) is recorded in the manifest."""
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None)
    return f"{module}:{name}" if module and name else repr(value)


def _manifest(
    transform: str,
    options: Mapping[str, Any],
    files: Sequence[Path],
    shard_size: int,
    output_format: str,
) -> dict[str, Any]:
    return {
        "version": MANIFEST_VERSION,
        "transform": transform,
        "options": json.loads(json.dumps(dict(options), default=_describe)),
        "inputs": [fingerprint(f) for f in files],
        "shard_size": shard_size,
        "output_format": output_format,
    }


_COMPARED = ("version", "transform", "options", "inputs", "shard_size", "output_format")


def _load_or_write_manifest(
    folder: Path,
    manifest: dict[str, Any],
    files: Sequence[Path],
    overwrite: bool,
    planned: list[Shard] | None = None,
) -> list[Shard]:
    path = folder / MANIFEST_NAME
    if path.is_file() and not overwrite:
        saved = json.loads(path.read_text(encoding="utf-8"))
        differences = [k for k in _COMPARED if saved.get(k) != manifest[k]]
        if differences:
            raise JobMismatchError(
                f"output folder {str(folder)!r} holds a different job (its {', '.join(differences)} "
                "differ); resume with the same settings, use another folder, or overwrite"
            )
        return [Shard.from_dict(s) for s in saved["shards"]]
    if overwrite:
        for old in folder.iterdir():
            if old.is_file() and (old.name.startswith("shard-") or old.name == SUCCESS_NAME):
                old.unlink()
    elif any(p.name.startswith("shard-") for p in folder.iterdir()):
        raise JobMismatchError(
            f"output folder {str(folder)!r} holds shard files but no job manifest; "
            "use an empty folder or overwrite"
        )
    shards = planned if planned is not None else plan_shards(files, manifest["shard_size"])
    saved = {
        **manifest,
        "rows": sum(s.rows for s in shards),
        "shards": [s.to_dict() for s in shards],
    }
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    os.replace(temporary, path)
    return shards


def _ensure_ray(address: str | None, num_cpus: int | None) -> None:
    import ray

    if ray.is_initialized():
        if address is not None:
            logger.warning("Ray is already initialized; ignoring address=%r", address)
        return
    if address is not None:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


def run_batch(
    transform: str | type[BatchTransform],
    options: Mapping[str, Any] | None,
    input: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    output_format: str = "jsonl",
    shard_size: int = 1000,
    batch_size: int = 16,
    workers: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    address: str | None = None,
    local_cpus: int | None = None,
    overwrite: bool = False,
    show_progress: bool | None = None,
) -> BatchResult:
    """Run a transform over JSON-lines or Parquet files on Ray, restartably.

    Args:
        transform: A registered transform name (see [`transform_names`][ctx_core.batch.transforms.transform_names])
            or a [`BatchTransform`][ctx_core.batch.transforms.BatchTransform] subclass.
        options: Constructor arguments of the transform. Keep them plain data: they are
            recorded in the job manifest, and a resumed job must give the same ones.
        input: A file, a folder of data files, or a list of them (``.jsonl``/``.json``
            JSON lines, ``.parquet``).
        output: The output folder: one ``shard-NNNNN.<format>`` file per shard, the
            job manifest and, once every shard is done, ``_SUCCESS``. On a cluster it
            must be a folder every node can write (a shared file system).
        output_format: ``"jsonl"`` or ``"parquet"``.
        shard_size: Rows per shard: the unit of work, of output files and of restart.
        batch_size: Rows per call of the transform inside a shard.
        workers: Actors in the pool (each loads the model once).
        num_cpus: CPUs each actor reserves.
        num_gpus: GPUs each actor reserves (e.g. 1, or 0.5 to share a GPU between two).
        address: Ray cluster address (e.g. ``"auto"`` or ``"ray://head:10001"``);
            ``None`` starts a local Ray instance unless one is already running.
        local_cpus: CPUs of a local Ray instance this call starts (``None``: all).
        overwrite: Start over in an output folder that holds another job.
        show_progress: Progress bar over shards (``None``: for jobs of 8 shards or more).

    Returns:
        A [`BatchResult`][ctx_core.batch.runner.BatchResult]; read the rows with [`read_output`][ctx_core.batch.shards.read_output]
        or with ``ray.data.read_json`` / ``read_parquet`` on the output folder.

    Raises:
        JobMismatchError: ``output`` holds a job with other settings (and ``overwrite`` is off).
        ValueError: bad arguments (each names the argument).
    """
    require("ray", "batch", "Batch jobs")
    if output_format not in FORMATS:
        raise ValueError(
            f"output_format must be one of {', '.join(FORMATS)}, got {output_format!r}"
        )
    for name, value in (("batch_size", batch_size), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if num_cpus < 0 or num_gpus < 0:
        raise ValueError("num_cpus and num_gpus must be >= 0")
    options = dict(options or {})
    _transform_class(transform)  # fail early on an unknown name
    name = _transform_name(transform)
    files = list_inputs(input)
    folder = Path(output)
    # Plan (and so check every input row) before the output folder or Ray exist: bad
    # input fails here with the file and line, not inside a worker.
    planned = None
    if overwrite or not (folder / MANIFEST_NAME).is_file():
        planned = plan_shards(files, shard_size)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".shard-*.tmp-*"):
        stale.unlink()  # left by a killed run; its shard is redone below
    manifest = _manifest(name, options, files, shard_size, output_format)
    shards = _load_or_write_manifest(folder, manifest, files, overwrite, planned)
    total_rows = sum(s.rows for s in shards)
    pending = [s for s in shards if not (folder / shard_filename(s.index, output_format)).is_file()]
    result = BatchResult(
        output=str(folder),
        shards=len(shards),
        rows=total_rows,
        shards_skipped=len(shards) - len(pending),
        shards_done=0,
        rows_done=0,
        seconds=0.0,
        workers=workers,
    )
    logger.info(
        "%s: %d shards (%d rows); %d done already, %d to do",
        name,
        len(shards),
        total_rows,
        result.shards_skipped,
        len(pending),
    )
    if pending:
        _run_shards(
            pending,
            result,
            transform=transform,
            options=options,
            folder=folder,
            output_format=output_format,
            batch_size=batch_size,
            workers=workers,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            address=address,
            local_cpus=local_cpus,
            show_progress=show_progress,
        )
    if all((folder / shard_filename(s.index, output_format)).is_file() for s in shards):
        (folder / SUCCESS_NAME).write_text(
            json.dumps({"shards": len(shards), "rows": total_rows}) + "\n", encoding="utf-8"
        )
    return result


def _run_shards(
    pending: list[Shard],
    result: BatchResult,
    *,
    transform: str | type[BatchTransform],
    options: dict[str, Any],
    folder: Path,
    output_format: str,
    batch_size: int,
    workers: int,
    num_cpus: float,
    num_gpus: float,
    address: str | None,
    local_cpus: int | None,
    show_progress: bool | None,
) -> None:
    import ray.data

    _ensure_ray(address, local_cpus)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    started = time.perf_counter()
    descriptors = ray.data.from_items([s.to_dict() for s in pending])
    done = descriptors.map_batches(
        _ShardWorker,
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(pending))),
        fn_constructor_kwargs={
            "transform": transform,
            "options": options,
            "output": str(folder.resolve()),
            "output_format": output_format,
            "batch_size": batch_size,
        },
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
    show = show_progress if show_progress is not None else len(pending) >= 8
    for row in progress(
        done.iter_rows(),
        total=len(pending),
        desc=f"batch {_transform_name(transform)}",
        show=show,
        unit="shard",
    ):
        result.shards_done += 1
        result.rows_done += int(row["rows"])
        result.shard_seconds[int(row["index"])] = float(row["seconds"])
    result.seconds = time.perf_counter() - started
