"""The shard plan of a batch job, and the shard files it reads and writes.

A job's input (JSON-lines or Parquet files) is cut into shards of consecutive rows,
never crossing a file. The plan is computed once and saved in the output folder
(`MANIFEST_NAME`) with a fingerprint of each input file. Each shard's output
is written to a temporary name and renamed into place when complete, so a shard
file that exists is whole: a resumed job skips it, and redoes only the shards
whose file is missing.

Examples:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "rows.jsonl").write_text("".join(json.dumps({"n": i}) + "\\n" for i in range(5)))
    >>> plan = plan_shards([folder / "rows.jsonl"], shard_size=2)
    >>> [shard.rows for shard in plan]
    [2, 2, 1]
    >>> read_shard(plan[2])
    [{'n': 4}]
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS",
    "JSON_COLUMNS_KEY",
    "MANIFEST_NAME",
    "SUCCESS_NAME",
    "Shard",
    "fingerprint",
    "input_format",
    "list_inputs",
    "plan_shards",
    "read_output",
    "read_shard",
    "shard_filename",
    "write_shard",
]

#: File formats the batch jobs read and write.
FORMATS = ("jsonl", "parquet")

#: The job manifest in an output folder (no extension: Ray Data's readers skip it).
MANIFEST_NAME = "_ctx_batch_manifest"

#: Written when every shard of a job is done.
SUCCESS_NAME = "_SUCCESS"

_EXTENSIONS = {".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class Shard:
    """Consecutive rows of one input file.

    Attributes:
        index: Position of the shard in the job (its output file is named after it).
        path: The input file.
        format: ``"jsonl"`` or ``"parquet"``.
        start: Index of the shard's first row within the file (0-based, blank lines not counted).
        rows: Number of rows.
        offset: Byte offset of the first row in a JSON-lines file (0 for Parquet).
        line: Line number of the first row in a JSON-lines file (1-based; 0 for Parquet).
    """

    index: int
    path: str
    format: str
    start: int
    rows: int
    offset: int = 0
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Shard:
        """The shard a [`to_dict`][ctx_core.batch.shards.Shard.to_dict] dict describes."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def input_format(path: str | Path) -> str:
    """``"jsonl"`` or ``"parquet"``, from a file's extension.

    Raises:
        ValueError: the extension is none of ``.jsonl``, ``.json``, ``.parquet``.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise ValueError(
            f"input {str(path)!r}: unknown format; use .jsonl, .json (JSON lines) or .parquet files"
        )
    return _EXTENSIONS[suffix]


def list_inputs(inputs: str | Path | Sequence[str | Path]) -> list[Path]:
    """Input files: the files given, and the data files of folders given (sorted by name).

    Hidden files and files starting with ``_`` inside folders are skipped.

    Raises:
        FileNotFoundError: a path does not exist, or a folder holds no data file.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if not items:
        raise ValueError("input must name at least one file or folder")
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and not p.name.startswith((".", "_"))
                and p.suffix.lower() in _EXTENSIONS
            )
            if not found:
                raise FileNotFoundError(
                    f"input folder {str(path)!r} holds no .jsonl or .parquet file"
                )
            files.extend(found)
        elif path.is_file():
            input_format(path)
            files.append(path)
        else:
            raise FileNotFoundError(f"input {str(path)!r}: no such file or folder")
    resolved = [p.resolve() for p in files]
    if len(set(resolved)) != len(resolved):
        raise ValueError("input names the same file twice")
    return resolved


def fingerprint(path: str | Path) -> dict[str, Any]:
    """Size and a hash of the first and last MiB of a file: enough to notice a changed input."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(size - (1 << 20))
            digest.update(handle.read())
    return {"path": str(path), "size": size, "sha256_head_tail": digest.hexdigest()}


def plan_shards(files: Sequence[str | Path], shard_size: int) -> list[Shard]:
    """Cut the rows of ``files`` into shards of at most ``shard_size`` rows.

    JSON-lines files are scanned once for line offsets (blank lines are not rows), and
    every row is checked to be a JSON object there, so a bad line fails the job before
    any worker starts; Parquet files are planned from their metadata.

    Raises:
        ValueError: ``shard_size`` is not a positive integer, or a JSON line is not
            UTF-8 JSON or not an object (the file and line are named).
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    shards: list[Shard] = []
    for file in files:
        path = str(file)
        kind = input_format(path)
        if kind == "parquet":
            import pyarrow.parquet as pq

            total = pq.ParquetFile(path).metadata.num_rows
            for start in range(0, total, shard_size):
                rows = min(shard_size, total - start)
                shards.append(Shard(len(shards), path, kind, start, rows))
            continue
        current: dict[str, int] | None = None
        count = 0
        offset = 0
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    _check_row(line, path, number)
                    if count % shard_size == 0:
                        if current is not None:
                            shards.append(Shard(len(shards), path, kind, **current))
                        current = {"start": count, "rows": 0, "offset": offset, "line": number}
                    assert current is not None
                    current["rows"] += 1
                    count += 1
                offset += len(line)
        if current is not None:
            shards.append(Shard(len(shards), path, kind, **current))
    return shards


def _check_row(raw: bytes, path: str, number: int) -> None:
    """Raise a ValueError naming ``path`` and ``number`` unless ``raw`` is a JSON object."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} line {number}: not valid JSON ({err})") from err
    if not isinstance(record, dict):
        raise ValueError(
            f"{path} line {number}: expected a JSON object, got {type(record).__name__}"
        )


def read_shard(shard: Shard) -> list[dict[str, Any]]:
    """The rows of one shard, as dicts, in file order.

    Raises:
        ValueError: a JSON line is not valid JSON or not an object (the file and line are named).
    """
    if shard.format == "parquet":
        return _read_parquet_rows(shard.path, shard.start, shard.rows)
    rows: list[dict[str, Any]] = []
    with open(shard.path, "rb") as handle:
        handle.seek(shard.offset)
        number = shard.line
        while len(rows) < shard.rows:
            raw = handle.readline()
            if not raw:
                raise ValueError(
                    f"{shard.path}: ended before line {number}; the file changed after planning"
                )
            if raw.strip():
                try:
                    record = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as err:
                    raise ValueError(f"{shard.path} line {number}: not valid JSON ({err})") from err
                if not isinstance(record, dict):
                    raise ValueError(
                        f"{shard.path} line {number}: expected a JSON object, got {type(record).__name__}"
                    )
                rows.append(record)
            number += 1
    return rows


def _read_parquet_rows(path: str, start: int, count: int) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    groups: list[int] = []
    first_row = 0
    position = 0
    for i in range(parquet.metadata.num_row_groups):
        n = parquet.metadata.row_group(i).num_rows
        if position + n > start and position < start + count:
            if not groups:
                first_row = position
            groups.append(i)
        position += n
    if not groups:
        return []
    table: pa.Table = parquet.read_row_groups(groups)
    return [dict(row) for row in table.slice(start - first_row, count).to_pylist()]


def shard_filename(index: int, output_format: str) -> str:
    """Name of a shard's output file, e.g. ``shard-00003.jsonl``."""
    if output_format not in FORMATS:
        raise ValueError(
            f"output_format must be one of {', '.join(FORMATS)}, got {output_format!r}"
        )
    return f"shard-{index:05d}.{output_format}"


def write_shard(records: Sequence[Mapping[str, Any]], path: str | Path, output_format: str) -> None:
    """Write ``records`` to ``path`` atomically (temporary file, then rename).

    Raises:
        TypeError: a record holds a value JSON cannot represent (JSON-lines output).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        if output_format == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(_parquet_table(records), temporary)
        elif output_format == "jsonl":
            with open(temporary, "w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        else:
            raise ValueError(f"output_format must be one of {', '.join(FORMATS)}")
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


#: Parquet schema metadata key listing the columns stored as JSON text.
JSON_COLUMNS_KEY = b"ctx_batch.json_columns"


def _holds_object(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_object(v) for v in value)
    return False


def _parquet_table(records: Sequence[Mapping[str, Any]]) -> Any:
    """Records as an Arrow table; columns holding objects (free-form, e.g. metadata) as JSON text.

    Objects with varying or no keys have no stable Parquet type (an empty object cannot
    be written at all), so such columns are stored as JSON strings and listed in the
    schema metadata; [`read_output`][ctx_core.batch.shards.read_output] decodes them.
    """
    import pyarrow as pa

    rows = [dict(r) for r in records]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    encoded = [c for c in columns if any(_holds_object(row.get(c)) for row in rows)]
    for row in rows:
        for column in encoded:
            if row.get(column) is not None:
                row[column] = json.dumps(row[column], ensure_ascii=False)
    table = pa.Table.from_pylist(rows)
    return table.replace_schema_metadata({JSON_COLUMNS_KEY: json.dumps(encoded).encode()})


def _read_parquet_output(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    encoded = json.loads((table.schema.metadata or {}).get(JSON_COLUMNS_KEY, b"[]"))
    rows = [dict(r) for r in table.to_pylist()]
    for row in rows:
        for column in encoded:
            if row.get(column) is not None:
                row[column] = json.loads(row[column])
    return rows


def read_output(folder: str | Path) -> list[dict[str, Any]]:
    """All rows of a batch job's output folder, shard by shard (the input's order).

    Raises:
        FileNotFoundError: ``folder`` holds no job manifest.
        ValueError: the job is not finished (shards are missing).
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} holds no batch job ({MANIFEST_NAME} missing)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    output_format = manifest["output_format"]
    names = [shard_filename(s["index"], output_format) for s in manifest["shards"]]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise ValueError(
            f"the job in {str(folder)!r} is not finished: {len(missing)} of {len(names)} shards missing"
        )
    rows: list[dict[str, Any]] = []
    for name in names:
        if output_format == "parquet":
            rows.extend(_read_parquet_output(folder / name))
        else:
            with open(folder / name, encoding="utf-8") as handle:
                rows.extend(json.loads(line) for line in handle if line.strip())
    return rows
