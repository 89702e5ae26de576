"""Command-line latency and feedback: lazy command imports, -v anywhere, bars on a terminal only."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ctx_core.cli.main import COMMANDS, build_parser, main
from ctx_core.progress import progress, spinner

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT / "packages")])}


def python(program: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=ENV, timeout=timeout
    )


def test_only_the_command_being_run_is_imported():
    done = python(
        "import sys\n"
        "from ctx_core.cli.main import build_parser\n"
        "build_parser('rerank').parse_args(['rerank', '-q', 'x', '-i', 'f'])\n"
        "mods = [m for m in ('ctx_core.cli.eval', 'ctx_core.cli.structurize', 'ctx_core.cli.memorize',"
        " 'ctx_core.structure', 'ctx_core.memory', 'ctx_core.eval', 'torch', 'sentence_transformers')"
        " if m in sys.modules]\n"
        "print(mods)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_and_unknown_commands_still_list_every_command(capsys):
    parser = build_parser(None)
    help_text = parser.format_help()
    for module in COMMANDS:
        assert module.rsplit(".", 1)[-1] in help_text
    with pytest.raises(SystemExit):
        main(["nonsense"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "demo", "--list"],
        ["demo", "-v", "--list"],
        ["demo", "--list", "-v"],
        ["demo", "--list", "--verbose"],
    ],
)
def test_verbose_is_accepted_anywhere(argv, capsys):
    assert main(argv) == 0
    assert "00-corpus" in capsys.readouterr().out


def test_verbose_reaches_nested_commands():
    parser = build_parser("eval")
    args = parser.parse_args(["eval", "plot", "results.json", "-v"])
    assert args.verbose is True
    args = parser.parse_args(["eval", "plot", "results.json"])
    assert args.verbose is False


def test_cross_encoder_without_model_names_the_flag(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "a"}\n')
    assert main(["rerank", "-q", "x", "-i", str(source), "--scorer", "cross-encoder"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "ctx rerank: error: --scorer cross-encoder needs --model "
        "(a model id or folder; none ships offline)"
    )


def test_backend_flag_only_for_local_model_scorers(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "a"}\n')
    assert (
        main(["rerank", "-q", "x", "-i", str(source), "--scorer", "bm25", "--backend", "onnx"]) == 2
    )
    assert "--backend applies to --scorer" in capsys.readouterr().err


def test_rerank_backends_give_the_same_order(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": i, "text": t}) + "\n"
            for i, t in [
                ("b", "Bananas are yellow."),
                ("p", "Paris is the capital of France."),
                ("e", "France is a country in Europe."),
            ]
        )
    )
    orders = {}
    for backend in ("onnx", "onnx-int8"):
        assert (
            main(["rerank", "-q", "capital of France", "-i", str(source), "--backend", backend])
            == 0
        )
        orders[backend] = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert orders["onnx"] == orders["onnx-int8"] == ["p", "e", "b"]


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, to see what a user would see."""

    def isatty(self) -> bool:
        return True


def test_bars_and_spinners_draw_on_a_terminal_only(monkeypatch):
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    assert list(progress(range(3), desc="work")) == [0, 1, 2]
    with spinner("loading", delay=0.0):
        time.sleep(0.3)
    assert pipe.getvalue() == ""  # a pipe gets nothing

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with spinner("loading the model", delay=0.0):
        time.sleep(0.35)
    drawn = terminal.getvalue()
    assert "loading the model" in drawn and drawn.endswith("\r\033[K")  # cleared at the end

    quick = Terminal()
    monkeypatch.setattr(sys, "stderr", quick)
    with spinner("quick step"):  # shorter than the delay: nothing drawn
        pass
    assert quick.getvalue() == ""


def test_output_through_a_spinner_clears_it_first(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    out = io.StringIO()
    with spinner("running", delay=0.0) as spin:
        time.sleep(0.25)
        spin.wrap(out).write("a line\n")
        drawn_before = terminal.getvalue()
    assert drawn_before.endswith("\r\033[K")  # the spinner's line was cleared for the output
    assert out.getvalue() == "a line\n"


def test_rerank_prints_a_table_on_a_terminal(tmp_path, monkeypatch, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "p", "text": "Paris is the capital of France."}\n')
    monkeypatch.setattr("ctx_core.cli.rerank.stdout_is_tty", lambda: True)
    assert main(["rerank", "-q", "capital", "-i", str(source)]) == 0
    shown = capsys.readouterr().out
    assert "Paris is the capital of France." in shown and "score" in shown
    assert not shown.lstrip().startswith("{")
    assert main(["rerank", "-q", "capital", "-i", str(source), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "p"


@pytest.mark.slow
def test_torch_backend_prints_no_framework_bars(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "p", "text": "Paris is the capital of France."}\n')
    done = python(
        "from ctx_core.cli.main import main\n"
        f"raise SystemExit(main(['rerank', '-q', 'x', '-i', {str(source)!r}, '--backend', 'torch']))\n",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
