"""The runner, result files, reports and the ``ctx eval`` commands."""

import json

import pytest

from ctx_core.cli.main import main
from ctx_core.eval.methods import ScorerMethod, build_method
from ctx_core.eval.report import format_table, load_results, order_results, plot_results
from ctx_core.eval.rerank_datasets import rerank_dataset_names
from ctx_core.eval.results import default_results_path, write_results
from ctx_core.eval.tasks.rerank import RerankEvaluator, run_rerank_eval


def test_datasets_registered():
    assert {"dl19", "hotpotqa", "cranfield", "cacm"} <= set(rerank_dataset_names())


def test_no_rerank_on_dl19_reproduces_bm25():
    results = run_rerank_eval("dl19", build_method("none"), show_progress=False)
    assert results["num_queries"] == 43 and len(results["per_query"]) == 43
    assert round(results["metrics"]["ndcg@10"], 4) == 0.5058
    assert results["metrics"]["kept"] == 100.0
    row = results["per_query"][0]
    assert row["query_id"] == "264014" and len(row["ranking"]) == 100
    assert row["ranking"][0] == "5611210"
    assert set(row["metrics"]) == set(results["metrics"])
    env = results["environment"]
    assert env["packages"]["numpy"] and env["python"] and env["cpu_count"]
    assert results["method_config"] == {"name": "none"} and results["command"]
    assert results["wall_time_s"] >= results["timing"]["rerank_s"]


def test_hotpotqa_metrics_for_none_and_top_k():
    none = run_rerank_eval("hotpotqa", build_method("none"), limit=5, show_progress=False)
    assert none["metrics"]["supporting_recall"] == 1.0
    assert none["metrics"]["distractor_rate"] == pytest.approx(0.8)
    assert none["metrics"]["kept"] == 10.0
    top = run_rerank_eval("hotpotqa", build_method("top-k", k=2), limit=5, show_progress=False)
    assert top["metrics"]["kept"] == 2.0
    assert top["metrics"]["supporting_recall"] == top["metrics"]["supporting_recall@2"]
    assert top["metrics"]["kept_tokens"] < none["metrics"]["kept_tokens"]


def test_cranfield_bm25_first_stage():
    results = run_rerank_eval("cranfield", build_method("none"), limit=3, show_progress=False)
    assert results["num_queries"] == 3
    assert [q["num_candidates"] for q in results["per_query"]] == [100, 100, 100]
    assert results["dataset_info"]["first_stage"]["name"] == "bm25"
    assert results["metrics"]["ndcg@10"] > 0.2
    shallow = run_rerank_eval("cacm", build_method("none"), limit=2, depth=10, show_progress=False)
    assert shallow["per_query"][0]["num_candidates"] == 10
    assert shallow["dataset_options"] == {"depth": 10}
    with pytest.raises(ValueError, match="does not take option"):
        run_rerank_eval("dl19", build_method("none"), limit=1, depth=5, show_progress=False)


class _Bad:
    name = "bad"

    def __init__(self, output):
        self.output = output

    def rerank(self, query, candidates):
        return self.output(candidates)

    def config(self):
        return {"name": "bad"}


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (lambda c: [c[0].with_metadata(), c[0]], "twice"),
        (lambda c: [type(c[0])("invented", id="zzz")], "not a candidate"),
        (lambda c: tuple(c), "returned tuple"),
    ],
)
def test_method_output_is_checked(output, message):
    with pytest.raises((ValueError, TypeError), match=message):
        run_rerank_eval("hotpotqa", _Bad(output), limit=1, show_progress=False)


def test_embedding_rerank_matches_direct_scoring(embedding_scorer):
    method = ScorerMethod(embedding_scorer, name="embedding")
    results = run_rerank_eval("dl19", method, limit=1, show_progress=False)
    from ctx_core.eval.datasets import load_dl19

    [query] = load_dl19(limit=1)
    scores = embedding_scorer.score(query.query, query.candidates)
    expected = [
        p.id for _, p in sorted(zip(scores, query.candidates, strict=True), key=lambda x: -x[0])
    ]
    assert results["per_query"][0]["ranking"] == expected


def test_write_results_round_trip_and_default_path(tmp_path, monkeypatch):
    results = run_rerank_eval("hotpotqa", build_method("top-k", k=3), limit=2, show_progress=False)
    path = write_results(results, tmp_path / "r.json")
    assert json.loads(path.read_text(encoding="utf-8")) == results
    assert default_results_path(results).as_posix() == (
        "benchmarks/results/rerank/hotpotqa/top-3-limit2.json"
    )
    monkeypatch.chdir(tmp_path)  # not a checkout of this repository: a folder of its own
    assert write_results(results).resolve() == (
        tmp_path / "ctx-eval-results/rerank/hotpotqa/top-3-limit2.json"
    )
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    assert write_results(results).resolve() == (
        tmp_path / "benchmarks/results/rerank/hotpotqa/top-3-limit2.json"
    )


def test_table_and_plot(tmp_path):
    rows = [
        run_rerank_eval("hotpotqa", build_method(m), limit=2, show_progress=False)
        for m in ("top-k", "none")
    ]
    table = format_table(order_results(rows), ["supporting_recall", "kept"])
    lines = table.splitlines()
    assert lines[0] == "| method | queries | supporting_recall | kept | ms/query |"
    assert lines[2].startswith("| none | 2 | 1.0000 | 10.0 |")
    image = plot_results(rows, tmp_path / "plot.png")
    assert image.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="mix data sets"):
        plot_results([rows[0], {**rows[1], "dataset": "other"}], tmp_path / "x.png")


def test_cli_eval_rerank_and_plot(tmp_path, capsys):
    out = tmp_path / "res"
    code = main(
        [
            "eval", "rerank", "--dataset", "hotpotqa", "--method", "none",
            "--method", "top-k:k=2", "--limit", "3", "--results-dir", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "| none | 3 |" in captured.out and "| top-2 | 3 |" in captured.out
    assert sorted(p.name for p in out.iterdir()) == [
        "hotpotqa-limit3.png",
        "none-limit3.html",
        "none-limit3.json",
        "top-2-limit3.html",
        "top-2-limit3.json",
    ]
    saved = load_results([out / "top-2-limit3.json"])[0]
    assert saved["method_config"] == {"name": "top-k", "k": 2, "base": {"name": "none"}}
    assert saved["command"].startswith("ctx eval rerank --dataset hotpotqa --method top-k")
    assert main(["eval", "plot", str(out), "--metric", "kept", "-o", str(tmp_path / "p.png")]) == 0
    assert "| top-2 | 3 | 2.0 |" in capsys.readouterr().out
    assert (tmp_path / "p.png").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "none", "--set", "colour=red"], "does not take option"),
        (["--method", "nope"], "unknown method"),
        (["--method", "none", "--first-stage", "bm25"], "does not apply to dl19"),
        (["--method", "none", "--method", "top-k", "--output", "x.json"], "single --method"),
        (["--method", "none", "--set", "novalue"], "key=value"),
        (["--method", "none", "--data-dir", "/no/such/dir"], "--data-dir"),
    ],
)
def test_cli_errors_are_clear(tmp_path, capsys, argv, message):
    base = ["eval", "rerank", "--dataset", "dl19", "--limit", "1", "--results-dir", str(tmp_path)]
    assert main([*base, *argv]) == 2
    assert message in capsys.readouterr().err


def test_evaluator_is_called_with_any_reranking_component():
    evaluator = RerankEvaluator("hotpotqa", limit=3, show_progress=False)
    assert evaluator.primary_metric == "supporting_recall@2"

    class Reverse:  # no name, no config: only rerank()
        def rerank(self, query, candidates):
            return candidates[::-1]

    none = evaluator(build_method("none"))
    reverse = evaluator(Reverse())
    queries = evaluator.queries
    assert evaluator.queries is queries  # loaded once for every component
    assert reverse["method"] == "Reverse" and reverse["method_config"] == {"name": "Reverse"}
    assert reverse["per_query"][0]["ranking"] == none["per_query"][0]["ranking"][::-1]
    # the first-stage order is reported beside the component's
    assert none["base_metrics"] == none["metrics"] == reverse["base_metrics"]
    with pytest.raises(TypeError, match="rerank"):
        evaluator(object())


def test_udcg_and_incontext_are_registry_methods():
    from ctx_core import _registry
    from ctx_core.eval.methods import method_names

    assert {"udcg", "incontext", "none", "top-k"} <= set(_registry.names("method"))
    assert method_names() == _registry.names("method")
