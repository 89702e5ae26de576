"""The loaders, on the real data files (found in ../shared/data or $CTX_DATA_DIR)."""

import pytest

from ctx_core.eval.datasets import (
    load_cacm,
    load_cranfield,
    load_dl19,
    load_hotpotqa,
    load_kv_retrieval,
    load_locomo,
    load_nq_oracle,
    resolve_data_dir,
)
from ctx_core.eval.datasets.hotpotqa import hotpotqa_as_ranking
from ctx_core.eval.datasets.locomo import normalize_evidence
from ctx_core.eval.datasets.paths import DATA_DIR_ENV
from ctx_core.eval.datasets.smart import CRANFIELD_GAINS, read_smart
from ctx_core.types import Passage


def test_data_dir_is_found():
    assert (resolve_data_dir() / "trec-dl-passage").is_dir()


def test_explicit_data_dir_wins_and_must_exist(tmp_path):
    assert resolve_data_dir(tmp_path) == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        resolve_data_dir(tmp_path / "missing")


def test_missing_data_file_names_the_options(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dl19(tmp_path)
    assert "bm25_top100_dl19.json" in str(err.value) and DATA_DIR_ENV in str(err.value)


def test_nothing_found_names_data_dir_and_env(monkeypatch, tmp_path):
    import ctx_core.eval.datasets.paths as paths

    monkeypatch.setattr(paths, "_shared_data_candidates", lambda: [tmp_path / "none"])
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as err:
        resolve_data_dir()
    assert "--data-dir" in str(err.value) and DATA_DIR_ENV in str(err.value)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_data_dir() == tmp_path.resolve()


def test_dl19():
    queries = load_dl19()
    assert len(queries) == 43
    first = queries[0]
    assert first.query_id == "264014" and first.query == "how long is life cycle of flea"
    assert len(first.candidates) == 100
    assert [p.metadata["rank"] for p in first.candidates] == list(range(1, 101))
    scores = [p.score for p in first.candidates]
    assert scores == sorted(scores, reverse=True)
    assert first.candidates[0].id == "5611210"
    assert set(first.qrels.values()) <= {0, 1, 2, 3}
    # qrels also hold judged passages BM25 did not retrieve
    assert set(first.qrels) - {p.id for p in first.candidates}
    assert len(load_dl19(limit=2)) == 2
    with pytest.raises(ValueError, match="limit"):
        load_dl19(limit=0)


def test_hotpotqa():
    examples = load_hotpotqa()
    assert len(examples) == 250
    ex = examples[0]
    assert ex.question.startswith("What government position")
    assert ex.answers == ["Chief of Protocol"]
    assert len(ex.passages) == 10 and len(ex.supporting_ids) == 2
    assert ex.passages[1].metadata == {
        "title": "Shirley Temple",
        "is_supporting": True,
        "position": 1,
        "question_id": ex.id,
    }
    assert ex.passages[1].text.startswith("Shirley Temple Black (April 23, 1928")
    ids = [p.id for e in examples for p in e.passages]
    assert len(set(ids)) == len(ids)
    assert all(len(e.supporting_ids) == 2 for e in examples)
    [ranking] = hotpotqa_as_ranking(examples[:1])
    assert ranking.candidates == ex.passages
    assert ranking.qrels == {p.id: int(p.id in ex.supporting_ids) for p in ex.passages}


def test_cranfield():
    c = load_cranfield()
    assert c.name == "cranfield"
    assert len(c.documents) == 1400 and len(c.queries) == 225 and len(c.qrels) == 225
    assert sum(len(v) for v in c.qrels.values()) == 1837
    doc = c.documents[0]
    assert doc.id == "1" and doc.text.startswith("experimental investigation of the aerodynamics")
    assert doc.metadata["authors"] == "brenckman,m."
    assert c.queries["1"].startswith("what similarity laws must be obeyed")
    # the third query of the file is .I 004; the qrels number it 3
    assert c.queries["3"].startswith("what problems of heat conduction in composite slabs")
    assert c.qrels["1"]["184"] == CRANFIELD_GAINS[2] == 3
    assert set(v for q in c.qrels.values() for v in q.values()) == {0, 1, 2, 3, 4}


def test_cacm():
    c = load_cacm()
    assert len(c.documents) == 3204 and len(c.queries) == 64 and len(c.qrels) == 52
    assert sum(len(v) for v in c.qrels.values()) == 796
    assert c.documents[0].text == "Preliminary Report-International Algebraic Language"
    assert c.documents[0].metadata["bibliography"] == "CACM December, 1958"
    assert c.queries["1"].startswith("What articles exist which deal with TSS")
    assert c.qrels["1"]["1410"] == 1


def test_read_smart_rejects_text_before_a_record(tmp_path):
    path = tmp_path / "bad.all"
    path.write_text("stray\n.I 1\n.W\nok\n")
    with pytest.raises(ValueError, match="line 1"):
        read_smart(path)
    path.write_text(".I 1\n.T\na title\n.W\nline one\nline two\n")
    assert read_smart(path) == [("1", {"T": "a title", "W": "line one\nline two"})]


def test_locomo():
    conversations = load_locomo()
    assert [c.conversation_id for c in conversations][:2] == ["conv-26", "conv-30"]
    conv = conversations[0]
    assert conv.speakers == ("Caroline", "Melanie")
    assert len(conv.sessions) == 19
    assert [s.session_id for s in conv.sessions[:3]] == ["session_1", "session_2", "session_3"]
    first = conv.sessions[0]
    assert first.date == "1:56 pm on 8 May, 2023"
    assert first.turns[0].dia_id == "D1:1" and first.turns[0].speaker == "Caroline"
    assert first.summary and first.summary.startswith("Caroline and Melanie")
    qa = conv.qa[0]
    assert (qa.question, qa.answer, qa.category, qa.evidence) == (
        "When did Caroline go to the LGBTQ support group?",
        "7 May 2023",
        2,
        ["D1:3"],
    )
    assert conv.qa[1].answer == "2022"  # numbers become strings
    adversarial = [q for c in conversations for q in c.qa if q.category == 5]
    # 310 of the 312 adversarial questions have no answer in the data, only a tempting wrong one
    assert len(adversarial) == 312
    assert sum(q.answer == "" and bool(q.adversarial_answer) for q in adversarial) == 310
    assert sum(len(c.qa) for c in conversations) == 1347
    turns = {t.dia_id for t in conv.turns}
    known = sum(e in turns for q in conv.qa for e in q.evidence)
    assert known >= 0.99 * sum(len(q.evidence) for q in conv.qa)


def test_normalize_evidence():
    assert normalize_evidence(["D8:6; D9:17", "D:11:26", "D"]) == ["D8:6", "D9:17", "D11:26", "D"]


def test_nq_oracle_and_kv_retrieval():
    nq = load_nq_oracle(limit=3)
    assert len(nq) == 3
    ex = nq[0]
    assert ex.question == "who got the first nobel prize in physics"
    assert ex.answers == ["Wilhelm Conrad Röntgen"]
    assert isinstance(ex.passages[0], Passage) and ex.supporting_ids == ["nq-0-0"]
    assert ex.passages[0].metadata["title"] == "List of Nobel laureates in Physics"
    assert len(load_nq_oracle()) == 2655
    kv = load_kv_retrieval(limit=2)
    assert len(kv) == 2 and len(kv[0]["ordered_kv_records"]) == 75
    assert [kv[0]["key"], kv[0]["value"]] in kv[0]["ordered_kv_records"]
