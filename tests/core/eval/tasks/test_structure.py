"""The structurization experiments on tiny data sets written by the tests (real loaders, real MiniLM)."""

import json

import pytest

from ctx_core.cli.main import main
from ctx_core.eval.tasks.structure import (
    clean_answer,
    run_reader_eval,
    run_retrieval_eval,
)
from ctx_core.llm import BaseLLM

LONG = (
    "the boundary layer on a flat plate thickens downstream . the skin friction falls as the "
    "layer grows . transition to turbulence raises the friction again . suction through the "
    "wall delays the transition . the measurements agree with the laminar theory up to the "
    "transition point . heat transfer follows the same trend as the friction ."
)
DOCS = [
    ("1", "boundary layer on a flat plate", LONG),
    ("2", "propeller slipstream", "the slipstream of a propeller increases the lift of a wing ."),
    ("3", "shock waves", "a curved shock wave stands ahead of a blunt body at high speed ."),
]


def write_cranfield(root):
    folder = root / "glasgow-ir" / "cran"
    folder.mkdir(parents=True)
    records = "".join(
        f".I {i}\n.T\n{title}\n.A\nsomeone\n.B\nj. ae. scs.\n.W\n{text}\n"
        for i, title, text in DOCS
    )
    (folder / "cran.all.1400").write_text(records)
    (folder / "cran.qry").write_text(
        ".I 001\n.W\nhow does suction delay transition in the boundary layer ?\n"
        ".I 002\n.W\nwhat does a slipstream do to lift ?\n"
    )
    (folder / "cranqrel").write_text("1 1 1\n2 2 2\n")


def write_hotpotqa(root):
    folder = root / "hotpotqa-dev250-distractor"
    folder.mkdir(parents=True)
    record = {
        "question_id": "q1",
        "question_text": "Which city is the capital of France?",
        "answers_objects": [{"spans": ["Paris"]}],
        "contexts": [
            {
                "id": "0",
                "title": "Paris",
                "paragraph_text": "Paris is the capital of France. It lies on the Seine.",
                "is_supporting": True,
            },
            {
                "id": "1",
                "title": "Rome",
                "paragraph_text": "Rome is the capital of Italy. It lies on the Tiber.",
                "is_supporting": False,
            },
        ],
    }
    (folder / "dev250.jsonl").write_text(json.dumps(record) + "\n")


class Reader(BaseLLM):
    """Answers 'Answer: Paris' and records what it read."""

    model_name = "scripted-reader"

    def __init__(self):
        self.prompts = []

    def complete(self, prompt, **kwargs):
        self.prompts.append(prompt)
        return "Answer: Paris\nbecause the passage says so"


def test_retrieval_eval_on_a_tiny_collection(tmp_path, embedder):
    write_cranfield(tmp_path)
    results = run_retrieval_eval(
        "cranfield", ["original", "heuristic"], embedder=embedder, data_dir=tmp_path,
        show_progress=False,
    )  # fmt: skip
    assert results["num_queries"] == 2 and results["num_documents"] == 3
    for variant in ("original", "heuristic"):
        metrics = results["results"][variant]["metrics"]
        assert metrics["ndcg@10"] == pytest.approx(1.0)  # the relevant document ranks first
        assert [r["query_id"] for r in results["per_query"][variant]] == ["1", "2"]
    stats = results["results"]["heuristic"]["structurization"]
    assert stats["structurized"] == 1 and stats["left_as_is"] == 2  # only the >= 50-word document
    original = results["results"]["original"]["structurization"]
    assert original["structurized"] == 0 and original["truncated_by_embedder"] == 0
    assert results["environment"] and results["config"]["min_words"] == 50
    change = results["differences"]["heuristic"]["ndcg@10"]
    assert change["difference"] == pytest.approx(0.0) and change["queries"] == 2


def test_reader_eval_reads_structurized_paragraphs(tmp_path, embedder):
    write_hotpotqa(tmp_path)
    reader = Reader()
    results = run_reader_eval(
        ["original", "heuristic"], reader=reader, embedder=embedder, data_dir=tmp_path,
        show_progress=False,
    )  # fmt: skip
    assert results["results"]["original"]["metrics"]["em"] == 1.0
    assert results["results"]["heuristic"]["metrics"]["f1"] == 1.0
    original, structured = reader.prompts
    assert "Paris\nParis is the capital of France." in original
    assert (
        "This passage talks about" in structured and "Paris is the capital of France." in structured
    )
    row = results["per_query"]["heuristic"][0]
    assert row["prediction"] == "Paris" and row["answers"] == ["Paris"]
    assert set(results["differences"]["heuristic"]) == {"em", "f1"}
    assert results["differences"]["heuristic"]["f1"]["difference"] == 0.0


def test_cli_writes_the_results_file(tmp_path, capsys):
    write_cranfield(tmp_path)
    out = tmp_path / "out.json"
    argv = ["eval", "structure", "--task", "retrieval", "--dataset", "cranfield"]
    argv += ["--variants", "original,heuristic", "--data-dir", str(tmp_path), "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "ndcg@10=" in printed and "heuristic - original, ndcg@10: +0.0000" in printed
    data = json.loads(out.read_text())
    assert set(data["per_query"]) == {"original", "heuristic"}
    assert main(["eval", "structure", "--task", "retrieval", "--dataset", "hotpotqa"]) == 2
    assert "needs --dataset cranfield or cacm" in capsys.readouterr().err


def test_bad_variants_and_answers():
    with pytest.raises(ValueError, match="variants must be some of"):
        run_retrieval_eval("cranfield", ["structured"])
    with pytest.raises(ValueError, match="dataset must be one of"):
        run_retrieval_eval("msmarco")
    assert clean_answer("The answer is: Chief of Protocol") == "Chief of Protocol"
    assert clean_answer("\n\nParis.\nMore") == "Paris."
