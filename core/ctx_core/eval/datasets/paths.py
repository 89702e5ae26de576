"""Where the evaluation data sets live on disk."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "data_file", "resolve_data_dir"]

#: Environment variable naming the data folder; when set it wins over a ``shared/data`` folder.
DATA_DIR_ENV = "CTX_DATA_DIR"

# core/ctx_core/eval/datasets/paths.py -> the checkout's root folder
_REPO_ROOT = Path(__file__).resolve().parents[4]


def _shared_data_candidates() -> list[Path]:
    """``shared/data`` next to (or above) the repository root and the working directory."""
    candidates: list[Path] = []
    for start in (_REPO_ROOT, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data"
            if candidate not in candidates:
                candidates.append(candidate)
    return candidates


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The folder that holds the evaluation data sets.

    Looked up in this order:

    1. ``data_dir`` (the command line's ``--data-dir``), which must exist;
    2. the ``CTX_DATA_DIR`` environment variable, when set (it must exist);
    3. ``../shared/data`` relative to the repository root or the working directory
       (the nearest ``shared/data`` folder in a parent folder of either), when it exists.

    Args:
        data_dir: An explicit folder; it wins over everything else.

    Returns:
        The folder, resolved to an absolute path.

    Raises:
        FileNotFoundError: ``data_dir`` does not exist, or nothing was found; the
            message says how to point at the data (``--data-dir`` or ``CTX_DATA_DIR``).

    Examples:
        >>> resolve_data_dir("/no/such/folder")
        Traceback (most recent call last):
        ...
        FileNotFoundError: data folder '/no/such/folder' (--data-dir) does not exist
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"data folder '{data_dir}' (--data-dir) does not exist")
        return path.resolve()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"data folder '{env}' (from ${DATA_DIR_ENV}) does not exist")
        return path.resolve()
    for candidate in _shared_data_candidates():
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "no evaluation data folder found: pass --data-dir DIR (data_dir=... in Python) or set "
        f"{DATA_DIR_ENV}=DIR; by default ../shared/data next to the repository is used"
    )


def data_file(data_dir: str | Path | None, *parts: str) -> Path:
    """A file inside the data folder; a missing file is an error that names it.

    Raises:
        FileNotFoundError: The file is not there (the message names the data folder and
            how to choose another one).
    """
    root = resolve_data_dir(data_dir)
    path = root.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(
            f"data file {'/'.join(parts)!r} not found in {root} "
            f"(choose the data folder with --data-dir or {DATA_DIR_ENV})"
        )
    return path
