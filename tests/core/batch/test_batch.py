"""Batch jobs on Ray: shard plans, transforms, exactness against the single-process API, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ctx_core.batch import (
    JobMismatchError,
    RerankTransform,
    ScoreTransform,
    plan_shards,
    read_output,
    run_batch,
)
from ctx_core.batch.shards import MANIFEST_NAME, SUCCESS_NAME, list_inputs, read_shard
from ctx_core.batch.transforms import records_from_batch
from ctx_core.rerank import Reranker
from ctx_core.types import Passage

ROWS = [
    {
        "qid": "q1",
        "query": "What is the capital of France?",
        "candidates": [
            {"id": "a", "text": "Bananas are yellow.", "metadata": {"src": "fruit"}},
            {"id": "b", "text": "Paris is the capital of France.", "score": 3.5},
            "Rome is the capital of Italy.",
        ],
    },
    {
        "qid": "q2",
        "query": "Which planet is red?",
        "candidates": [
            {"id": "m", "text": "Mars is called the red planet.", "metadata": {"n": 1}},
            {"id": "v", "text": "Venus is the hottest planet."},
        ],
    },
    {"qid": "q3", "query": "Who wrote Hamlet?", "candidates": []},
    {
        "qid": "q4",
        "query": "Where do penguins live?",
        "candidates": [
            {"id": "p", "text": "Penguins live in the Southern Hemisphere.", "metadata": {}},
            {"id": "k", "text": "Kangaroos live in Australia.", "metadata": {"tags": ["x"]}},
            {"id": "é", "text": "Café crème à Paris."},
        ],
    },
    {"qid": "q5", "query": "How tall is Everest?", "candidates": ["Everest is 8,849 m tall."]},
    {
        "qid": "q6",
        "query": "What do bees make?",
        "candidates": [
            {"id": "h", "text": "Bees make honey.", "score": 1.0},
            {"id": "w", "text": "Wasps can sting more than once."},
        ],
    },
    {
        "qid": "q7",
        "query": "What is the boiling point of water?",
        "candidates": ["Water boils at 100 degrees Celsius at sea level.", "Ice is frozen water."],
    },
]


def write_jsonl(path: Path, rows, blank_lines: bool = False) -> Path:
    lines = []
    for row in rows:
        lines.append(json.dumps(row, ensure_ascii=False))
        if blank_lines:
            lines.append("   ")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def one_thread():
    """Ray gives a 1-CPU actor one torch thread: compare with the same thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


# --- shard plans and shard files (no Ray) -----------------------------------------------------


def test_plan_cuts_files_into_shards_and_reads_them_back(tmp_path):
    first = write_jsonl(tmp_path / "a.jsonl", ROWS[:5], blank_lines=True)
    second = write_jsonl(tmp_path / "b.jsonl", ROWS[5:])
    plan = plan_shards([first, second], shard_size=2)
    assert [(Path(s.path).name, s.start, s.rows) for s in plan] == [
        ("a.jsonl", 0, 2),
        ("a.jsonl", 2, 2),
        ("a.jsonl", 4, 1),
        ("b.jsonl", 0, 2),
    ]
    assert [s.index for s in plan] == [0, 1, 2, 3]
    assert [row for s in plan for row in read_shard(s)] == ROWS


def test_parquet_shards_cross_row_groups(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"n": list(range(10))}), path, row_group_size=3)
    plan = plan_shards([path], shard_size=4)
    assert [(s.start, s.rows) for s in plan] == [(0, 4), (4, 4), (8, 2)]
    assert [r["n"] for s in plan for r in read_shard(s)] == list(range(10))


def test_bad_lines_are_named(tmp_path):
    # Planning checks every row, so a job with a bad line fails before any worker starts.
    path = tmp_path / "bad.jsonl"
    path.write_text('{"query": "ok"}\n\n{broken\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 3: not valid JSON"):
        plan_shards([path], shard_size=10)
    path.write_text('{"query": "ok"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: expected a JSON object"):
        plan_shards([path], shard_size=10)
    # A file changed after planning is still caught when the shard is read.
    path.write_text('{"query": "ok"}\n{"query": "ok"}\n', encoding="utf-8")
    [shard] = plan_shards([path], shard_size=10)
    path.write_text('{"query": "ok"}\n{broken}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        read_shard(shard)


def test_inputs_from_folders_skip_hidden_files(tmp_path):
    write_jsonl(tmp_path / "b.jsonl", ROWS[:1])
    write_jsonl(tmp_path / "a.jsonl", ROWS[:1])
    write_jsonl(tmp_path / "_meta.jsonl", ROWS[:1])
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_inputs(tmp_path)] == ["a.jsonl", "b.jsonl"]
    with pytest.raises(FileNotFoundError, match="no such file"):
        list_inputs(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="unknown format"):
        list_inputs(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="shard_size"):
        plan_shards([tmp_path / "a.jsonl"], shard_size=0)


# --- transforms (no Ray) ----------------------------------------------------------------------


def test_rerank_transform_is_the_reranker(embedding_scorer):
    transform = RerankTransform(lambda: embedding_scorer, top_n=2)
    out = transform.process(ROWS)
    reranker = Reranker(embedding_scorer, top_n=2)
    for row, result in zip(ROWS, out, strict=True):
        assert {k: v for k, v in result.items() if k != "ranked"} == row
        candidates = [
            Passage(c) if isinstance(c, str) else Passage.from_dict(c) for c in row["candidates"]
        ]
        expected = reranker.rerank(row["query"], candidates)
        assert result["ranked"] == [p.to_dict() for p in expected]
    assert out[0]["ranked"][0]["id"] == "b"
    assert out[0]["ranked"][0]["metadata"]["retrieval_score"] == 3.5


def test_score_transform_and_batch_formats(embedding_scorer):
    pa = pytest.importorskip("pyarrow")
    rows = [{"query": "red planet", "candidates": ["Mars is red.", "Bananas are yellow."]}]
    transform = ScoreTransform(lambda: embedding_scorer, output_field="s")
    [out] = transform.process(rows)
    assert out["s"] == embedding_scorer.score("red planet", ["Mars is red.", "Bananas are yellow."])
    table = transform(pa.Table.from_pylist(rows))
    assert table.to_pylist() == [out]
    assert records_from_batch({"query": ["a", "b"], "n": [1, 2]}) == [
        {"query": "a", "n": 1},
        {"query": "b", "n": 2},
    ]
    with pytest.raises(TypeError, match="batch must be"):
        records_from_batch([1, 2])


@pytest.mark.parametrize(
    ("row", "error", "message"),
    [
        ({"candidates": ["x"]}, ValueError, "no 'query' field"),
        ({"query": "  ", "candidates": ["x"]}, ValueError, "query must be a non-empty"),
        ({"query": "q", "candidates": "x"}, TypeError, "must be a list of passages"),
        ({"query": "q", "candidates": [{"id": "a"}]}, ValueError, r"'candidates'\[0\]: .*'text'"),
        ({"query": "q", "candidates": [3]}, TypeError, r"'candidates'\[0\] must be"),
        (
            {"query": "q", "candidates": [{"id": "d", "text": "x"}, {"id": "d", "text": "y"}]},
            ValueError,
            "duplicate ids",
        ),
    ],
)
def test_bad_rows_raise_clear_errors(overlap_scorer, row, error, message):
    transform = RerankTransform(lambda: overlap_scorer)
    with pytest.raises(error, match=message):
        transform.process([row])


def test_run_batch_checks_arguments_before_starting_ray(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    with pytest.raises(ValueError, match="output_format"):
        run_batch("rerank", {}, source, tmp_path / "out", output_format="csv")
    with pytest.raises(ValueError, match="workers"):
        run_batch("rerank", {}, source, tmp_path / "out", workers=0)
    with pytest.raises(ValueError, match="unknown transform"):
        run_batch("summarize", {}, source, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        run_batch("rerank", {}, tmp_path / "nothing.jsonl", tmp_path / "out")


def test_batch_package_imports_without_ray():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["ray"] = None  # as if ray were not installed
        import ctx_core, ctx_core.batch, ctx_core.cli.main
        ctx_core.cli.main.build_parser()
        from ctx_core.errors import MissingDependencyError
        try:
            ctx_core.batch.run_batch("rerank", {}, "x.jsonl", "out")
        except MissingDependencyError as err:
            print("missing:", err)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ctx-rag[batch]" in done.stdout


# --- jobs on a local Ray instance (2 CPUs) ----------------------------------------------------


def reference(rows, **options):
    """The single-process API on the same rows."""
    return RerankTransform(**options).process(rows)


def test_job_equals_single_process_api_and_reruns_nothing(ray_local, tmp_path, one_thread):
    source = write_jsonl(tmp_path / "in.jsonl", ROWS, blank_lines=True)
    out = tmp_path / "out"
    result = run_batch("rerank", {"top_n": 2}, source, out, shard_size=2, workers=2)
    assert (result.shards, result.rows, result.shards_done, result.rows_done) == (4, 7, 4, 7)
    assert read_output(out) == reference(ROWS, top_n=2)
    assert (out / SUCCESS_NAME).is_file()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*")}

    again = run_batch("rerank", {"top_n": 2}, source, out, shard_size=2, workers=2)
    assert (again.shards_skipped, again.shards_done, again.rows_done) == (4, 0, 0)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*")} == stamps

    with pytest.raises(JobMismatchError, match="options"):
        run_batch("rerank", {"top_n": 3}, source, out, shard_size=2)
    with pytest.raises(JobMismatchError, match="shard_size"):
        run_batch("rerank", {"top_n": 2}, source, out, shard_size=3)


def test_resume_redoes_only_missing_shards(ray_local, tmp_path, one_thread):
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out"
    run_batch("score", {}, source, out, shard_size=3, workers=2)
    # As a killed run leaves it: a shard never written, one half written (temporary file).
    (out / "shard-00001.jsonl").unlink()
    (out / "shard-00002.jsonl").rename(out / ".shard-00002.jsonl.tmp-deadbeef")
    (out / SUCCESS_NAME).unlink()
    kept = (out / "shard-00000.jsonl").stat()

    result = run_batch("score", {}, source, out, shard_size=3, workers=2)
    assert (result.shards_skipped, result.shards_done, result.rows_done) == (1, 2, 4)
    assert sorted(result.shard_seconds) == [1, 2]
    assert (out / "shard-00000.jsonl").stat().st_mtime_ns == kept.st_mtime_ns
    assert not list(out.glob(".shard-*"))
    assert read_output(out) == ScoreTransform().process(ROWS)
    assert (out / SUCCESS_NAME).is_file()


def test_parquet_in_parquet_out(ray_local, tmp_path, one_thread):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [{"qid": r["qid"], "query": r["query"], "candidates": [
        c if isinstance(c, str) else c["text"] for c in r["candidates"]
    ]} for r in ROWS]  # fmt: skip
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), source, row_group_size=2)
    out = tmp_path / "out"
    run_batch("score", {}, source, out, output_format="parquet", shard_size=3, workers=2)
    assert sorted(p.name for p in out.glob("shard-*")) == [
        "shard-00000.parquet",
        "shard-00001.parquet",
        "shard-00002.parquet",
    ]
    assert read_output(out) == ScoreTransform().process(pq.read_table(source).to_pylist())


def test_transform_composes_with_ray_data_readers_and_writers(ray_local, tmp_path, one_thread):
    import ray.data

    rows = [
        {"qid": r["qid"], "query": r["query"], "candidates": [{"id": str(i), "text": t}
            for i, t in enumerate(c if isinstance(c, str) else c["text"] for c in r["candidates"])]}
        for r in ROWS if r["candidates"]
    ]  # fmt: skip
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    ds = ray.data.read_json(str(source), lines=True)
    ranked = ds.map_batches(
        RerankTransform,
        fn_constructor_kwargs={"top_n": 1},
        batch_size=2,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=0.5,  # two actors on a 2-CPU instance leave a CPU for reading and writing
    )
    ranked.write_parquet(str(tmp_path / "out"))  # write_json rounds floats to 10 digits
    import pyarrow.parquet as pq

    written = pq.read_table(str(tmp_path / "out")).to_pylist()
    got = {row["qid"]: [(p["id"], p["score"]) for p in row["ranked"]] for row in written}
    expected = {
        row["qid"]: [(p["id"], p["score"]) for p in row["ranked"]]
        for row in reference(rows, top_n=1)
    }
    assert got == expected


def test_cli_batch_rerank(ray_local, tmp_path, capsys, one_thread):
    from ctx_core.cli.main import main

    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out"
    argv = ["batch", "rerank", "-i", str(source), "-o", str(out), "--top-n", "1"]
    assert main([*argv, "--shard-size", "4", "--workers", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["rows"], summary["rows_done"], summary["shards"]) == (7, 7, 2)
    assert read_output(out) == reference(ROWS, top_n=1)
    assert main([*argv, "--shard-size", "5"]) == 2
    assert "holds a different job" in capsys.readouterr().err


KILLED_RUN = """
import sys
import ray
from ctx_core.batch import run_batch

ray.init(address=sys.argv[1], log_to_driver=False)
run_batch("rerank", {"top_n": 2}, sys.argv[2], sys.argv[3], shard_size=1, workers=1)
"""


@pytest.mark.slow
def test_resume_after_killed_run(ray_local, tmp_path, one_thread):
    """Kill the driver of a running job, then resume: finished shards stay, no row is lost."""
    rows = [{**row, "qid": f"{row['qid']}-{i}"} for i in range(3) for row in ROWS]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out"
    script = tmp_path / "job.py"
    script.write_text(KILLED_RUN, encoding="utf-8")
    address = ray_local.get_runtime_context().gcs_address
    driver = subprocess.Popen(
        [sys.executable, str(script), address, str(source), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(list(out.glob("shard-*.jsonl"))) < 2:
            assert driver.poll() is None, "the job ended before it could be killed"
            time.sleep(0.1)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    # Ray stops the killed driver's actors; wait until no shard file appears any more.
    seen: list[str] = []
    while seen != (now := sorted(p.name for p in out.glob("shard-*.jsonl"))):
        seen = now
        time.sleep(3)
    finished = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.jsonl")}
    assert 2 <= len(finished) < len(rows)
    assert not (out / SUCCESS_NAME).exists() and (out / MANIFEST_NAME).exists()

    result = run_batch("rerank", {"top_n": 2}, source, out, shard_size=1, workers=2)
    assert result.shards_skipped == len(finished)
    assert result.rows_done == len(rows) - len(finished)
    assert all((out / name).stat().st_mtime_ns == stamp for name, stamp in finished.items())
    assert read_output(out) == reference(rows, top_n=2)


# --- structurization and document memories ----------------------------------------------------

DOCUMENTS = [
    {
        "id": "garden",
        "text": (
            "Tomatoes need full sun and warm soil. Plant them after the last frost. "
            "Water them deeply twice a week. Mulch keeps the soil moist.\n\n"
            "Pests can ruin a harvest. Aphids gather under the leaves. Ladybirds eat aphids. "
            "Neem oil keeps many insects away."
        ),
        "metadata": {"source": "notes", "year": 2024},
    },
    {
        "id": 7,
        "text": "# Setup\nInstall the package. Run the tests.\n\n# Usage\nImport the module. Call the function.",
    },
    {"text": "Rivers carve valleys over millions of years. Glaciers carve them faster."},
    {"id": "blank", "text": "   ", "metadata": {"kept": True}},
    {
        "id": "again",
        "text": "Rivers carve valleys over millions of years. Glaciers carve them faster.",
    },
]


SMALL_CHUNKS = {"max_words": 20, "min_words": 5}


def test_structurize_transform_is_structurize_passages(one_thread):
    from ctx_core.batch import StructurizeTransform
    from ctx_core.structure import HeuristicStructurizer

    out = StructurizeTransform().process(DOCUMENTS)
    passages = [
        Passage(d["text"], id=str(d.get("id") or ""), metadata=dict(d.get("metadata") or {}))
        for d in DOCUMENTS[:4]
    ]
    expected = HeuristicStructurizer().structurize_passages(passages)
    for row, document, passage in zip(out, DOCUMENTS, expected, strict=False):
        assert {k: v for k, v in row.items() if k != "structured"} == document
        assert row["structured"] == passage.to_dict()
    assert out[1]["structured"]["id"] == "7"
    assert out[3]["structured"] == {
        "id": "blank",
        "text": "   ",
        "metadata": {"kept": True},
        "score": None,
    }
    # the same text twice in one batch: each row keeps its own id
    assert out[2]["structured"]["text"] == out[4]["structured"]["text"]
    assert out[4]["structured"]["id"] == "again"
    assert out[2]["structured"]["id"] == Passage(DOCUMENTS[2]["text"]).id


def test_extract_memories_transform_is_the_extractor(one_thread):
    from ctx_core.batch import ExtractMemoriesTransform
    from ctx_core.memory import DocumentMemory, HeuristicMemoryExtractor

    documents = [d for d in DOCUMENTS if d["text"].strip()]
    out = ExtractMemoriesTransform(extractor_options=SMALL_CHUNKS).process(documents)
    extractor = HeuristicMemoryExtractor(**SMALL_CHUNKS)
    _ = extractor.embedder  # loaded, as in every batch worker (the memory's info names it)
    for row, document in zip(out, documents, strict=True):
        doc_id = None if document.get("id") is None else str(document["id"])
        expected = extractor.extract(
            document["text"], doc_id=doc_id, metadata=document.get("metadata")
        )
        assert row["memory"] == expected.to_dict()
        assert DocumentMemory.from_dict(row["memory"]).source == document["text"]
    assert out[1]["memory"]["doc_id"] == "7"
    with pytest.raises(ValueError, match="document blank"):
        ExtractMemoriesTransform().process([DOCUMENTS[3]])


@pytest.mark.parametrize(
    ("row", "error", "message"),
    [
        ({"id": "x"}, ValueError, "no 'text' field"),
        ({"text": 3}, TypeError, "'text' must be a str"),
        ({"text": "Some text.", "metadata": [1]}, TypeError, "'metadata' must be an object"),
    ],
)
def test_bad_document_rows(row, error, message):
    from ctx_core.batch import ExtractMemoriesTransform, StructurizeTransform

    for transform in (StructurizeTransform(), ExtractMemoriesTransform()):
        with pytest.raises(error, match=message):
            transform.process([row])
    with pytest.raises(ValueError, match="structurizer must be"):
        StructurizeTransform("gpt")
    with pytest.raises(ValueError, match="only for the 'llm' extractor"):
        ExtractMemoriesTransform(llm="smollm2")


def test_structurize_and_memorize_jobs_equal_single_process(ray_local, tmp_path, one_thread):
    from ctx_core.batch import ExtractMemoriesTransform, StructurizeTransform

    source = write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS)
    out = tmp_path / "structured"
    run_batch("structurize", {}, source, out, shard_size=2, batch_size=2, workers=2)
    transform = StructurizeTransform()
    expected = [row for i in range(0, 5, 2) for row in transform.process(DOCUMENTS[i : i + 2])]
    assert read_output(out) == expected

    documents = [d for d in DOCUMENTS if d["text"].strip()]
    source = write_jsonl(tmp_path / "memorize.jsonl", documents)
    options = {"extractor_options": SMALL_CHUNKS}
    result = run_batch("extract_memories", options, source, tmp_path / "memories", workers=2)
    assert result.rows_done == len(documents)
    assert read_output(tmp_path / "memories") == ExtractMemoriesTransform(**options).process(
        documents
    )


def test_cli_batch_structurize_and_memorize(ray_local, tmp_path, capsys, one_thread):
    from ctx_core.batch import ExtractMemoriesTransform, StructurizeTransform
    from ctx_core.cli.main import main

    documents = [{"doc": d["text"], "n": i} for i, d in enumerate(DOCUMENTS) if d["text"].strip()]
    source = write_jsonl(tmp_path / "docs.jsonl", documents)
    common = ["-i", str(source), "--text-field", "doc", "--shard-size", "2"]
    assert main(["batch", "structurize", *common, "-o", str(tmp_path / "s")]) == 0
    assert json.loads(capsys.readouterr().out)["rows_done"] == 4
    expected = [
        row
        for i in range(0, 4, 2)
        for row in StructurizeTransform(text_field="doc").process(documents[i : i + 2])
    ]
    assert read_output(tmp_path / "s") == expected

    argv = ["batch", "memorize", *common, "-o", str(tmp_path / "m"), "--max-words", "20"]
    argv += ["--min-words", "5"]
    assert main([*argv, "--format", "parquet"]) == 0
    rows = read_output(tmp_path / "m")
    reference_rows = ExtractMemoriesTransform(
        extractor_options=SMALL_CHUNKS, text_field="doc"
    ).process(documents)
    assert rows == reference_rows  # nested objects travel through Parquet as JSON text
    assert main(["batch", "memorize", *common, "-o", str(tmp_path / "x"), "--llm", "smollm2"]) == 2
    assert "--llm is only for --extractor llm" in capsys.readouterr().err
