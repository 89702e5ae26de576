import io
import json

from ctx_core.cli.main import main
from ctx_core.structure import Structure

from ..structure.structure_texts import MARKDOWN, TOPICS


def test_structurize_file_in_every_format(tmp_path, capsys):
    path = tmp_path / "rice.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    assert main(["structurize", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "This passage talks about Caring for rice seedlings:\n1. Caring for rice seedlings:"
    )
    assert main(["structurize", str(path), "--format", "json"]) == 0
    structure = Structure.from_json(capsys.readouterr().out)
    assert structure.source == MARKDOWN and structure.metadata["method"] == "markers"
    target = tmp_path / "out.txt"
    assert main(["structurize", str(path), "-f", "outline", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8").startswith("Caring for rice seedlings\n1. ")


def test_structurize_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(TOPICS))
    assert main(["structurize", "-", "--format", "retrieval"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("**")]) == 3


def test_structurize_errors(tmp_path, capsys):
    assert main(["structurize", str(tmp_path / "missing.txt")]) == 2
    assert "no such file" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    assert main(["structurize", str(empty)]) == 2
    assert "holds no text" in capsys.readouterr().err


def test_structurize_with_an_llm_that_writes_garbage_falls_back(tmp_path, capsys, tiny_llama_dir):
    # A randomly initialized model cannot write the YAML: the heuristic takes over.
    path = tmp_path / "topics.txt"
    path.write_text(TOPICS, encoding="utf-8")
    assert main(["structurize", str(path), "--llm", str(tiny_llama_dir), "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metadata"]["structurizer"] == "heuristic"
    assert data["metadata"]["fallbacks"][0]["reason"]
    assert Structure.from_dict(data).is_valid
