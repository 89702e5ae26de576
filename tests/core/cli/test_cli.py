import json

import pytest

from ctx_core.cli.main import main


def write_jsonl(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return str(path)


def test_rerank_writes_json_lines(tmp_path, capsys):
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "b", "text": "Bananas are yellow.", "metadata": {"k": 1}},
            {"id": "p", "text": "Paris is the capital of France."},
            "Rome is in Italy.",
        ],
    )
    assert main(["rerank", "--query", "capital of France", "--input", source, "--top-n", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and rows[0]["id"] == "p"
    assert rows[0]["metadata"]["relevance_score"] == rows[0]["score"]


def test_rerank_to_file_keeps_unicode(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "é", "text": "Café crème à Paris."}])
    out = tmp_path / "out.jsonl"
    assert main(["rerank", "-q", "café", "-i", source, "-o", str(out)]) == 0
    [row] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["id"] == "é" and row["text"] == "Café crème à Paris."


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"text": "ok"}', "{broken"], "line 2: not valid JSON"),
        (['{"id": "x"}'], "line 1: passage record has no 'text'"),
        (['{"text": "a", "id": "x"}', '{"text": "b", "id": "x"}'], "duplicate ids"),
        (["[1, 2]"], "line 1: expected an object"),
    ],
)
def test_rerank_bad_input_names_the_line(tmp_path, capsys, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines))
    assert main(["rerank", "-q", "x", "-i", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_rerank_missing_file(capsys):
    assert main(["rerank", "-q", "x", "-i", "/nonexistent/file.jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_demo_lists_core_and_adapter_sections(capsys):
    assert main(["demo", "--list"]) == 0
    names = capsys.readouterr().out.split()
    assert names[0] == "00-corpus"
    assert any("llamaindex" in n for n in names) and any("langchain" in n for n in names)
