import io

from ctx_core.demo import run_demo
from ctx_core.demo.book import DEMO_QUESTIONS, load_demo_book, load_demo_corpus


def test_demo_corpus_is_exact_slices_of_the_book():
    book = load_demo_book()
    corpus = load_demo_corpus()
    assert len(corpus) > 50
    assert {p.metadata["chapter"] for p in corpus} == {"I", "II", "III", "IV"}
    assert all(p.text in book for p in corpus)
    assert len({p.id for p in corpus}) == len(corpus)


def test_demo_runs_end_to_end():
    out = io.StringIO()
    ran = run_demo(out)
    text = out.getvalue()
    assert ran[0] == "00-corpus" and len(ran) >= 3
    for question in DEMO_QUESTIONS:
        assert question in text
    assert "A (SmolLM2-135M):" in text
    assert "[ackroyd-chI#0]" in text  # the chunk saying how Mrs. Ferrars died is kept
