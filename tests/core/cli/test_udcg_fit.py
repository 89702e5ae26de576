"""``ctx udcg fit``: a calibrator fitted on the user's labelled queries, usable by the reranker."""

import json

import pytest

from ctx_core.cli.main import main
from ctx_core.types import Passage
from ctx_core.udcg import LogisticCalibrator, UtilityDistractionReranker

TOPICS = [
    ("How do volcanoes erupt?", "Magma rises and a volcano erupts lava and ash.", "volcano"),
    ("Why is the sky blue?", "Sunlight scatters off air molecules, so the sky looks blue.", "sky"),
    ("What do bees make?", "Bees collect nectar and make honey in the hive.", "bees"),
    ("Who wrote Hamlet?", "Hamlet is a tragedy written by William Shakespeare.", "hamlet"),
]


def labelled_file(tmp_path):
    lines = []
    for i, (query, answer, key) in enumerate(TOPICS):
        others = [t[1] for j, t in enumerate(TOPICS) if j != i]
        passages = [{"id": f"{key}-0", "text": answer, "label": 1}] + [
            {"id": f"{key}-{n}", "text": text, "label": 0} for n, text in enumerate(others, 1)
        ]
        lines.append(json.dumps({"query": query, "passages": passages}))
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fit_writes_a_calibrator_the_reranker_uses(tmp_path, capsys):
    out = tmp_path / "calibrator.json"
    assert main(["udcg", "fit", "--data", str(labelled_file(tmp_path)), "--out", str(out)]) == 0
    assert "fitted on 4 queries" in capsys.readouterr().err
    calibrator = LogisticCalibrator.from_dict(json.loads(out.read_text()))
    assert calibrator.info["unrelated_lists"] is True
    assert 0.0 <= calibrator.empty_below <= 1.0
    assert calibrator.list_gate is not None  # fitted on own vs next-query lists
    assert calibrator.list_gate.features == ("max:dense", "at_best:coverage")
    reranker = UtilityDistractionReranker(calibrator=str(out))
    assert reranker.list_gate is not None and reranker.rule.empty_below is None
    assert reranker.list_gate.to_dict() == calibrator.list_gate.to_dict()
    kept = reranker.rerank(
        "What do bees make?",
        [Passage("Bees make honey from nectar.", id="h"), Passage("Lava is hot.", id="l")],
    )
    assert [p.id for p in kept] == ["h"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1: not valid JSON"),
        ('{"passages": []}', "line 1: expected an object with a 'query'"),
        ('{"query": "q", "passages": [{"text": "t"}]}', "passages[0] needs an integer 'label'"),
    ],
)
def test_bad_data_is_a_one_line_error_naming_file_and_line(tmp_path, capsys, line, message):
    data = tmp_path / "bad.jsonl"
    data.write_text(line + "\n", encoding="utf-8")
    status = main(["udcg", "fit", "--data", str(data), "--out", str(tmp_path / "c.json")])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()
