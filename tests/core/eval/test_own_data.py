"""Your own data through ``ctx eval``: each standard format written here, evaluated by the CLI.

Every collection is written by the test into ``tmp_path``; no data set text is copied.
"""

import json
from pathlib import Path

import pytest

from ctx_core.cli.main import main
from ctx_core.eval.datasets import load_cacm, resolve_data_dir
from ctx_core.eval.datasets.formats import data_fingerprint, detect_format, load_data
from ctx_core.eval.datasets.issues import DataIssues
from ctx_core.eval.datasets.locomo import load_locomo, normalize_evidence
from ctx_core.eval.datasets.paths import DATA_DIR_ENV
from ctx_core.eval.datasets.smart import load_smart, read_judgements

DOCS = [
    ("d1", "Cats", "Cats purr when they are content and sleep most of the day."),
    ("d2", "Dogs", "Dogs bark at strangers and like long walks."),
    ("d3", "Tea", "Green tea is brewed with water just below boiling."),
    ("d4", "Rivers", "The Nile is the longest river in Africa."),
    ("d5", "Kittens", "A kitten is a young cat that purrs and plays."),
]
QUERIES = [
    ("q1", "why does a cat purr"),
    ("q2", "longest river in africa"),
    ("q3", "how to brew green tea"),
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    _jsonl(folder / "corpus.jsonl", [{"_id": i, "title": t, "text": x} for i, t, x in DOCS])
    _jsonl(folder / "queries.jsonl", [{"_id": i, "text": t} for i, t in QUERIES])
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td5\t1\nq2\td4\t1\nq3\td3\t1\nq3\td404\t1\n",
        encoding="utf-8",
    )
    return folder


def write_smart(folder: Path, qrels: str, names=("MED.ALL", "MED.QRY", "MED.REL")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    docs = "".join(f".I {n}\n.T\n{t}\n.W\n{x}\n" for n, (_, t, x) in enumerate(DOCS, 1))
    queries = "".join(f".I {n}\n.W\n{q}\n" for n, (_, q) in enumerate(QUERIES, 1))
    (folder / names[0]).write_text(docs, encoding="utf-8")
    (folder / names[1]).write_text(queries, encoding="utf-8")
    (folder / names[2]).write_text(qrels, encoding="utf-8")
    return folder


# MED and other Glasgow collections ship TREC-layout qrels: query, iteration 0, doc, grade.
MED_QRELS = "1 0 1 1\n1 0 5 1\n2 0 4 1\n3 0 3 1\n"


def run_cli(*args: str) -> int:
    return main(["eval", *args, "--no-progress"])


def result_files(folder: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


# --- SMART, with either layout of qrels ----------------------------------------------------


def test_trec_layout_qrels_in_a_smart_collection_are_read_right(tmp_path):
    # Before: load_cacm read 'qid 0 docid rel' as 'qid docid ...': every judgement on doc "0".
    write_smart(
        tmp_path / "glasgow-ir" / "cacm", MED_QRELS, ("cacm.all", "query.text", "qrels.text")
    )
    collection = load_cacm(tmp_path)
    assert collection.qrels == {"1": {"1": 1, "5": 1}, "2": {"4": 1}, "3": {"3": 1}}
    assert collection.info["qrels_format"] == "trec"


def test_qrels_layouts_are_detected_or_refused(tmp_path):
    path = tmp_path / "qrels"
    path.write_text("01 1410  0 0\n01 1572  0 0\n02 7  0 0\n")
    assert read_judgements(path) == ({"1": {"1410": 1, "1572": 1}, "2": {"7": 1}}, "smart")
    path.write_text("1 0 0 0\n2 0 0 0\n")  # both readings fit: the format must be given
    with pytest.raises(ValueError, match="qrels_format"):
        read_judgements(path)
    assert read_judgements(path, "trec")[0] == {"1": {"0": 0}, "2": {"0": 0}}
    path.write_text("1 0 13 1\n1 0 14 1\n2 0 80\n")
    with pytest.raises(ValueError, match=r"qrels line 3: 3 fields"):
        read_judgements(path)
    path.write_text("1 0 13 x\n")
    with pytest.raises(ValueError, match=r"line 1"):
        read_judgements(path, "trec")


def test_smart_collection_counts_judgements_it_cannot_place(tmp_path):
    folder = write_smart(tmp_path / "med", MED_QRELS + "3 0 99 1\n")
    issues = DataIssues()
    collection = load_smart(
        folder / "MED.ALL", folder / "MED.QRY", folder / "MED.REL", issues=issues
    )
    assert issues.count("judged_document_not_in_collection") == 1
    # the title once: kept apart when the text does not start with it
    assert collection.documents[0].text == DOCS[0][2]
    assert collection.documents[2].text == f"Tea\n{DOCS[2][2]}"
    assert collection.queries["2"] == "longest river in africa"


def test_cli_rerank_on_a_smart_folder(tmp_path, capsys):
    folder = write_smart(tmp_path / "med", MED_QRELS)
    assert detect_format(folder) == "smart"
    out = tmp_path / "results"
    assert (
        run_cli(
            "rerank",
            "--data",
            str(folder),
            "--method",
            "none",
            "--results-dir",
            str(out),
            "--no-plot",
        )
        == 0
    )
    [result] = result_files(out).values()
    assert result["dataset"] == "med" and result["num_queries"] == 3
    assert result["data"]["format"] == "smart" and result["data"]["read"]["qrels_format"] == "trec"
    assert result["metrics"]["recall@10"] == 1.0  # 5 documents, every relevant one is a candidate
    assert "med (smart): 5 documents, 3 judged queries" in capsys.readouterr().err


# --- BEIR ----------------------------------------------------------------------------------


def test_cli_rerank_on_a_beir_folder(tmp_path, capsys):
    folder = write_beir(tmp_path / "mine")
    out = tmp_path / "results"
    code = run_cli(
        "rerank", "--data", str(folder), "--method", "none", "--method", "top-k:k=2",
        "--results-dir", str(out), "--no-plot",
    )  # fmt: skip
    assert code == 0
    files = result_files(out)
    assert sorted(files) == ["none.json", "top-2.json"]
    none = files["none.json"]
    assert none["dataset"] == "mine" and none["num_queries"] == 3
    assert none["data"]["sha256"] == data_fingerprint(folder)["sha256"]
    assert none["data"]["path"] == str(folder.resolve())
    issue = none["data_issues"]["judged_document_not_in_collection"]
    assert issue["count"] == 1 and "d404" in issue["examples"][0]
    assert none["dataset_info"]["first_stage"]["name"] == "bm25"
    assert none["command"].startswith("ctx eval rerank --data")
    assert files["top-2.json"]["metrics"]["kept"] == 2.0
    assert "| top-2 | 3 |" in capsys.readouterr().out


def test_beir_errors_name_the_file_and_line(tmp_path):
    folder = write_beir(tmp_path / "bad")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1 d1 1\n")
    with pytest.raises(ValueError, match=r"test.tsv line 2"):
        load_data(folder)
    with pytest.raises(FileNotFoundError, match="splits there: test"):
        load_data(folder, split="dev")


# --- TREC: a run file with its corpus, or hits JSON ----------------------------------------


def write_trec_run(folder: Path) -> Path:
    folder.mkdir()
    (folder / "collection.tsv").write_text("".join(f"{i}\t{x}\n" for i, _, x in DOCS))
    (folder / "topics.tsv").write_text("".join(f"{i}\t{q}\n" for i, q in QUERIES))
    (folder / "qrels.txt").write_text("q1 0 d1 2\nq1 0 d5 1\nq2 0 d4 1\nq3 0 d3 1\n")
    run = ["q1 Q0 d2 1 9.0 bm25", "q1 Q0 d1 2 8.0 bm25", "q2 Q0 d4 1 5.0 bm25",
           "q2 Q0 d9 2 4.0 bm25", "q3 Q0 d3 1 3.0 bm25"]  # fmt: skip
    (folder / "bm25.run").write_text("\n".join(run) + "\n")
    return folder


def test_cli_rerank_on_a_trec_run(tmp_path):
    folder = write_trec_run(tmp_path / "run")
    out = tmp_path / "results"
    assert (
        run_cli(
            "rerank",
            "--data",
            str(folder),
            "--method",
            "none",
            "--results-dir",
            str(out),
            "--no-plot",
        )
        == 0
    )
    [result] = result_files(out).values()
    assert result["data"]["format"] == "trec"
    assert [q["ranking"] for q in result["per_query"]] == [["d2", "d1"], ["d4"], ["d3"]]
    assert result["data_issues"]["run_document_not_in_corpus"]["count"] == 1
    # d5 is judged relevant for q1 but not retrieved: it still counts in recall
    assert result["per_query"][0]["metrics"]["recall@10"] == 0.5


def test_cli_rerank_on_trec_hits_json(tmp_path):
    folder = tmp_path / "hits"
    folder.mkdir()
    hits = [
        {"query": q, "hits": [{"qid": qid, "docid": i, "rank": r, "score": 1.0 / r, "content": x}
                              for r, (i, _, x) in enumerate(DOCS, 1)]}
        for qid, q in QUERIES
    ]  # fmt: skip
    (folder / "bm25_top5.json").write_text(json.dumps(hits))
    (folder / "qrels.txt").write_text("q1 0 d1 2\nq2 0 d4 1\n")
    data = load_data(folder)
    assert data.format == "trec" and len(data.records) == 2  # q3 has no judgements
    assert data.issues.count("query_without_judgements") == 1
    out = tmp_path / "results"
    code = run_cli(
        "rerank", "--data", str(folder), "--method", "none", "--relevance-threshold", "2",
        "--results-dir", str(out), "--no-plot",
    )  # fmt: skip
    assert code == 0
    [result] = result_files(out).values()
    assert result["dataset_info"]["relevance_threshold"] == 2
    assert result["per_query"][1]["metrics"]["mrr@10"] == 0.0  # grade 1 is below the threshold


# --- QA JSONL ------------------------------------------------------------------------------

QA = [
    {"id": "a", "question": "Who wrote Hamlet?", "answers": ["William Shakespeare"], "paragraphs": [
        {"title": "Thames", "text": "The Thames flows through London.", "is_supporting": False},
        {"title": "Hamlet", "text": "Hamlet is a tragedy by William Shakespeare.", "is_supporting": True},
    ]},
    {"question_id": "b", "question_text": "What is the capital of France?", "answers_objects": [{"spans": ["Paris"]}],
     "contexts": [{"title": "Paris", "paragraph_text": "Paris is the capital of France.", "is_supporting": True},
                  {"title": "Tea", "paragraph_text": "Tea is brewed.", "is_supporting": False}]},
    # NQ-with-distractors layout (lost in the middle): ctxs with isgold
    {"question": "longest river in africa", "answers": ["Nile"], "ctxs": [
        {"title": "Nile", "text": "The Nile is the longest river in Africa.", "isgold": True},
        {"title": "Dogs", "text": "Dogs bark.", "isgold": False}]},
]  # fmt: skip


def test_cli_rerank_on_qa_jsonl(tmp_path):
    path = _jsonl(tmp_path / "mine.jsonl", QA)
    data = load_data(path)
    assert [e.id for e in data.records] == ["a", "b", "3"]
    assert [e.supporting_ids for e in data.records] == [["a-1"], ["b-0"], ["3-0"]]
    out = tmp_path / "results"
    assert (
        run_cli(
            "rerank",
            "--data",
            str(path),
            "--method",
            "none",
            "--results-dir",
            str(out),
            "--no-plot",
        )
        == 0
    )
    [result] = result_files(out).values()
    assert result["metrics"]["supporting_recall"] == 1.0
    assert result["metrics"]["distractor_rate"] == pytest.approx(0.5)


def test_qa_paragraph_without_supporting_flag_is_an_error(tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"question": "q?", "paragraphs": [{"text": "x"}]}])
    with pytest.raises(ValueError, match=r"bad.jsonl line 1: paragraph 0 has no supporting flag"):
        load_data(path)


def test_cli_udcg_on_qa_jsonl_with_a_reader(tmp_path, capsys):
    path = _jsonl(tmp_path / "mine.jsonl", QA[:2])
    out = tmp_path / "results"
    code = run_cli(
        "udcg", "--data", str(path), "--method", "none", "--method", "top-k:k=1",
        "--context", "2", "--max-tokens", "8", "--results-dir", str(out),
    )  # fmt: skip
    assert code == 0
    files = result_files(out)
    assert sorted(files) == ["none.json", "top-1.json"]
    for result in files.values():
        assert result["kind"] == "udcg" and result["reader"]["answers"] is True
        assert 0.0 < result["metrics"]["udcg"] < 1.0
        assert {"em", "f1", "supporting_recall"} <= set(result["metrics"])
        row = result["per_query"][0]
        assert len(row["utilities"]) == len(row["context"]) and isinstance(row["reply"], str)
    assert [len(r["context"]) for r in files["top-1.json"]["per_query"]] == [1, 1]
    assert "| top-1 | 2 |" in capsys.readouterr().out


# --- LoCoMo --------------------------------------------------------------------------------


def locomo_record() -> dict:
    turns = lambda s, n: [  # noqa: E731
        {"speaker": "Ann" if t % 2 else "Bob", "dia_id": f"D{s}:{t}", "text": f"Session {s} line {t} about topic {s * 10 + t}."}
        for t in range(1, n + 1)
    ]  # fmt: skip
    return {
        "sample_id": "mine-1",
        "conversation": {
            "speaker_a": "Ann", "speaker_b": "Bob",
            "session_1": turns(1, 4), "session_1_date_time": "1 May 2023",
            "session_2": turns(2, 4), "session_2_date_time": "2 May 2023",
        },
        "qa": [
            {"question": "What about topic 13?", "answer": "line 3", "category": 4, "evidence": ["D1:3"]},
            {"question": "Topics 12 and 24?", "answer": 2, "category": 1, "evidence": ["D1:2 D2:4"]},
            {"question": "Topic 21?", "answer": "x", "category": 4, "evidence": ["D02:01"]},
            {"question": "Topic 99?", "answer": "y", "category": 4, "evidence": ["D9:9"]},
        ],
    }  # fmt: skip


def test_locomo_evidence_is_normalized_and_counted(tmp_path):
    issues = DataIssues()
    assert normalize_evidence(["D9:1 D4:4", "D30:05", "D1:3"], issues) == [
        "D9:1", "D4:4", "D30:5", "D1:3",
    ]  # fmt: skip
    assert issues.count("evidence_list_split") == 1 and issues.count("evidence_normalized") == 1
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([locomo_record()]))
    issues = DataIssues()
    [conversation] = load_locomo(path=path, issues=issues)
    assert [qa.evidence for qa in conversation.qa] == [
        ["D1:3"],
        ["D1:2", "D2:4"],
        ["D2:1"],
        ["D9:9"],
    ]
    assert issues.count("evidence_matches_no_turn") == 1
    assert issues.count("evidence_normalized") == 1


def test_cli_memory_on_locomo_json(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([locomo_record()]))
    out = tmp_path / "memory.json"
    code = run_cli(
        "memory", "--data", str(path), "--fixed-words", "20", "--memory-words", "40",
        "--output", str(out),
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["data"]["format"] == "locomo"
    assert result["data_issues"]["evidence_matches_no_turn"]["count"] == 1
    assert result["data_issues"]["evidence_list_split"]["count"] == 1


# --- structure retrieval on a BEIR folder --------------------------------------------------


def test_cli_structure_retrieval_on_a_beir_folder(tmp_path):
    folder = write_beir(tmp_path / "mine")
    out = tmp_path / "structure.json"
    code = run_cli(
        "structure", "--task", "retrieval", "--data", str(folder), "--variants",
        "original,heuristic", "--min-words", "5", "--output", str(out),
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["dataset"] == "mine" and result["num_queries"] == 3
    assert result["data"]["format"] == "beir"
    assert set(result["results"]) == {"original", "heuristic"}


# --- where data and results go -------------------------------------------------------------


def test_env_data_dir_wins_over_the_sibling_folder(monkeypatch, tmp_path):
    sibling = resolve_data_dir()  # ../shared/data exists on this machine
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_data_dir() == tmp_path.resolve() != sibling
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=DATA_DIR_ENV):
        resolve_data_dir()


def test_results_go_to_a_folder_of_their_own_outside_the_repository(tmp_path, monkeypatch, capsys):
    folder = write_beir(tmp_path / "mine")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run_cli("rerank", "--data", str(folder), "--method", "none", "--no-plot") == 0
    written = work / "ctx-eval-results" / "rerank" / "mine" / "none.json"
    assert written.is_file()
    assert f"wrote {written.resolve()}" in capsys.readouterr().err
    assert not (work / "benchmarks").exists()


def test_data_flags_need_data(capsys):
    assert (
        main(["eval", "rerank", "--dataset", "hotpotqa", "--format", "beir", "--method", "none"])
        == 2
    )
    assert "--format applies to --data only" in capsys.readouterr().err


def test_cli_context_on_own_word_lists(tmp_path):
    from ctx_core.eval.generators.pi_llm import SOURCE_FILE

    (tmp_path / "mine" / "pi-llm").mkdir(parents=True)
    words = {k: [f"{k}{i}" for i in range(12)] for k in ("bird", "fruit", "tool")}
    (tmp_path / "mine" / "pi-llm" / SOURCE_FILE).write_text(json.dumps(words))
    out = tmp_path / "context.json"
    code = main(
        [
            "eval", "context", "--task", "pi-llm", "--methods", "plain", "--keys", "2",
            "--updates", "2", "--trials", "1", "--keys-per-task", "1", "--limit", "1",
            "--data", str(tmp_path / "mine"), "--output", str(out), "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["data"]["path"] == str((tmp_path / "mine").resolve())
    assert result["data"]["sha256"] == data_fingerprint(tmp_path / "mine")["sha256"]
    assert "--data-dir" in result["command"]
    [item] = result["per_item"]
    every_word = {w for ws in words.values() for w in ws}
    assert item["expected"] in every_word  # the task was generated from these word lists
