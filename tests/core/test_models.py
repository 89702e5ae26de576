import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ctx_core.errors import ModelLoadError
from ctx_core.models import cache_dir, check_model_source, resolve_embedder, resolve_llm


def test_default_embedder_is_the_packaged_minilm():
    path = Path(resolve_embedder(None))
    assert (path / "config.json").exists()
    assert resolve_embedder("minilm") == str(path)
    assert resolve_embedder("some-org/some-model") == "some-org/some-model"


def test_packaged_llm_is_converted_once_to_safetensors():
    path = Path(resolve_llm("smollm2"))
    assert path.parent.parent == cache_dir()
    assert list(path.glob("*.safetensors")) and (path / "config.json").exists()
    assert resolve_llm(None) == str(path)  # cached: same folder, no second conversion


def test_missing_local_model_path_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "nope" / "model")
    with pytest.raises(ModelLoadError, match="no such file"):
        check_model_source(missing)
    with pytest.raises(ModelLoadError, match="model="):
        resolve_llm(missing)
    with pytest.raises(TypeError, match="model"):
        check_model_source("")


def test_unloadable_model_folder_raises_model_load_error(tmp_path):
    from ctx_core.models import load_sentence_transformer

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="could not load"):
        load_sentence_transformer(str(tmp_path))


def test_core_imports_without_any_framework():
    code = textwrap.dedent(
        """
        import sys
        for name in ("langchain_core", "langchain", "llama_index", "llama_index.core"):
            sys.modules[name] = None  # any import of them now fails
        import ctx_core, ctx_core.scoring, ctx_core.llm, ctx_core.rerank, ctx_core.demo
        import ctx_core.cli.main
        ctx_core.cli.main.build_parser()
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def _tokenizer(model):
    from tokenizers import Tokenizer, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(model)
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=raw)


def test_a_tokenizer_converted_into_fragments_is_refused():
    from tokenizers.models import WordLevel, WordPiece

    from ctx_core.models import _TOKENIZER_PROBE, _check_converted_tokenizer

    words = {w: i for i, w in enumerate(sorted(set(_TOKENIZER_PROBE.replace(",", " , ").split())))}
    whole_words = _tokenizer(WordLevel({**words, "[UNK]": len(words)}, unk_token="[UNK]"))
    _check_converted_tokenizer(whole_words, "words.gguf")  # about 19 pieces: accepted

    letters = sorted(set(_TOKENIZER_PROBE.replace(" ", "")))
    vocab = {"[UNK]": 0, **{c: i + 1 for i, c in enumerate(letters)}}
    vocab.update({f"##{c}": len(vocab) + i for i, c in enumerate(letters)})
    fragments = _tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    with pytest.raises(ModelLoadError, match=r"converted the tokenizer of letters\.gguf wrongly"):
        _check_converted_tokenizer(fragments, "letters.gguf")
