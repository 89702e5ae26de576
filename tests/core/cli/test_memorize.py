"""``ctx memorize`` and ``ctx ask``."""

import json

import pytest

from ctx_core.cli.main import build_parser, main


@pytest.fixture
def files(tmp_path):
    a = tmp_path / "pets.md"
    a.write_text(
        "# Cats\n\nCats purr and sleep all day.\n\n# Rockets\n\nRockets carry satellites into orbit.\n"
    )
    b = tmp_path / "paris.txt"
    b.write_text("Paris is the capital of France. Café crème is served there.", encoding="utf-8")
    return a, b


def test_memorize_then_ask(files, tmp_path, capsys):
    memory = tmp_path / "m.sqlite"
    assert main(["memorize", str(files[0]), str(files[1]), "--memory", str(memory)]) == 0
    err = capsys.readouterr().err
    assert f"{files[0].resolve()}: added, 2 chunks" in err and "2 documents" in err
    assert main(["ask", "What carries satellites?", "--memory", str(memory), "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert (
        f"1. [{files[0].resolve()}#1]" in out and "heading: Rockets" in out and "via chunk" in out
    )
    assert main(["ask", "café", "-m", str(memory), "--json", "-k", "2", "--layers", "chunk"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and rows[0]["metadata"]["memory_layers"] == ["chunk"]
    assert any("Café crème" in r["text"] for r in rows)  # unicode kept


def test_memorize_again_updates_and_adds(files, tmp_path, capsys):
    memory = tmp_path / "m.sqlite"
    assert main(["memorize", str(files[0]), "-m", str(memory), "-q"]) == 0
    files[0].write_text("Bananas are yellow.")
    assert main(["memorize", str(files[0]), str(files[1]), "-m", str(memory)]) == 0
    err = capsys.readouterr().err
    assert f"{files[0].resolve()}: updated, 1 chunks" in err
    assert f"{files[1].resolve()}: added" in err
    assert main(["ask", "yellow fruit", "-m", str(memory), "--json", "-k", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "Bananas are yellow."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"   \n\n ", "is empty"),
        (b"\xff\xd8\xff\xe0 JFIF", "not valid UTF-8"),
        (b"ELF\x00\x00\x01\x02", "binary data"),
    ],
)
def test_memorize_bad_files_name_the_file_and_write_nothing(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    memory = tmp_path / "m.sqlite"
    assert main(["memorize", str(bad), "-m", str(memory)]) == 2
    err = capsys.readouterr().err
    assert "ctx memorize: error: file" in err and "bad.bin" in err and message in err
    assert not memory.exists()


def test_corrupted_memory_file_is_reported_and_left_alone(files, tmp_path, capsys):
    memory = tmp_path / "m.sqlite"
    memory.write_bytes(b"not a database " * 100)
    before = memory.read_bytes()
    assert main(["memorize", str(files[1]), "-m", str(memory)]) == 2
    assert "not a readable memory index" in capsys.readouterr().err
    assert main(["ask", "x", "-m", str(memory)]) == 2
    assert "left unchanged" in capsys.readouterr().err
    assert memory.read_bytes() == before


def test_missing_files(tmp_path, capsys):
    assert main(["memorize", str(tmp_path / "nope.txt"), "-m", str(tmp_path / "m.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["ask", "x", "-m", str(tmp_path / "absent.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_help_lists_the_commands():
    text = build_parser().format_help()
    assert "memorize" in text and "ask" in text


def test_three_spellings_of_one_file_are_one_memory(tmp_path, monkeypatch, capsys):
    from ctx_core.memory import MemoryIndex

    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "e1.txt").write_text("Oslo is the capital of Norway.")
    memory = tmp_path / "m.sqlite"
    monkeypatch.chdir(folder)
    assert main(["memorize", "e1.txt", "-m", str(memory), "-q"]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["memorize", "./dir/e1.txt", "-m", str(memory)]) == 0
    assert "updated" in capsys.readouterr().err
    assert main(["memorize", str(folder / ".." / "dir" / "e1.txt"), "-m", str(memory), "-q"]) == 0
    index = MemoryIndex.load(memory)
    expected = str((folder / "e1.txt").resolve())
    assert index.doc_ids == [expected]  # the id users see: the absolute, resolved path
    assert index.get(expected).metadata["source"] == expected
    assert main(["memorize", "dir/e1.txt", "./dir/e1.txt", "-m", str(memory)]) == 2
    assert "named twice" in capsys.readouterr().err


def test_memories_saved_under_a_typed_path_are_replaced_by_the_resolved_one(
    files, tmp_path, monkeypatch, capsys, embedder
):
    from ctx_core.memory import MemoryIndex

    monkeypatch.chdir(tmp_path)
    memory = tmp_path / "m.sqlite"
    old = MemoryIndex(embedder)  # as earlier versions saved it: the path as typed
    old.add_texts([files[1].read_text()], ids=["paris.txt"])
    old.save(memory)
    assert main(["memorize", "paris.txt", "-m", str(memory)]) == 0
    assert "was 'paris.txt'" in capsys.readouterr().err
    assert MemoryIndex.load(memory).doc_ids == [str(files[1].resolve())]


@pytest.mark.slow  # three real `ctx` processes, each importing the model stack (~20 s here)
def test_concurrent_ctx_memorize_processes_keep_every_document(tmp_path):
    import os
    import subprocess
    import sys

    from ctx_core.memory import MemoryIndex

    memory = tmp_path / "m.sqlite"
    names = []
    for i in range(3):
        path = tmp_path / f"e{i}.txt"
        path.write_text(f"Document {i} says that the answer to question {i} is {i * 7}.")
        names.append(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ctx_core.cli.main",
                "memorize",
                str(p),
                "-m",
                str(memory),
                "-q",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in names
    ]
    results = [(run.wait(timeout=300), run.stderr.read() if run.stderr else "") for run in runs]
    assert [code for code, _ in results] == [0, 0, 0], results
    assert sorted(MemoryIndex.load(memory).doc_ids) == sorted(str(p.resolve()) for p in names)
