"""Where the offline data sets are (the eval package's ``resolve_data_dir`` rules)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["resolve_data_dir"]


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data folder: ``data_dir`` if given; else ``shared/data`` beside the repository
    (or beside any folder above it or the working directory); else ``$CTX_DATA_DIR``.

    Raises:
        FileNotFoundError: None of these exists.
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"data_dir {str(path)!r} is not a folder")
        return path
    repo = Path(__file__).resolve().parents[4]
    for start in (repo, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            candidate = folder.parent / "shared" / "data"
            if candidate.is_dir():
                return candidate
    env = os.environ.get("CTX_DATA_DIR")
    if env and Path(env).is_dir():
        return Path(env)
    raise FileNotFoundError(
        "no data folder found: pass data_dir / --data-dir, or set CTX_DATA_DIR "
        "(the folder holding pi-llm/ and needle-haystack/)"
    )
