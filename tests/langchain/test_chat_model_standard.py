"""langchain-tests' standard chat model suites, run on CtxChatModel over the packaged SmolLM2.

Capabilities the suites probe that CtxChatModel does not offer are declared off through
the suites' own properties (so those tests skip, and say why):

* tool calling and structured output: a 135M-parameter model cannot produce reliable
  tool calls or JSON, so ``bind_tools`` / ``with_structured_output`` are not provided;
* image, audio, PDF and Anthropic-style inputs: the packaged models read text only.

The standard parameters drop ``timeout``, ``max_retries`` and ``api_key``: a local model
makes no network call to time out, retry or authenticate, and CtxChatModel refuses an
argument it would ignore. Replies are kept short (``max_tokens=16``) to keep the suite fast.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.load import dumpd, load
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_ctx import CtxChatModel
from langchain_ctx._config import package_classes

# langchain_core.load marks load/loads as beta; the serialization test uses them.
pytestmark = pytest.mark.filterwarnings("ignore::langchain_core._api.LangChainBetaWarning")


class _Settings:
    @property
    def chat_model_class(self) -> type[CtxChatModel]:
        return CtxChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "smollm2"}

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        return {"temperature": 0, "max_tokens": 16, "stop": []}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True


class TestCtxChatModelUnit(_Settings, ChatModelUnitTests):
    @property
    def supports_model_override(self) -> bool:
        return True

    @pytest.mark.xfail(
        reason=(
            "loads with allowed_objects='all', which admits only LangChain's own classes in "
            "langchain-core 1.x; test_serdes_with_package_allowlist runs the same checks"
        ),
        strict=False,
    )
    def test_serdes(self, model, snapshot) -> None:
        super().test_serdes(model, snapshot)

    def test_serdes_with_package_allowlist(self, model, snapshot) -> None:
        """The suite's serialization test, with this package's classes as the ``load`` allowlist.

        The suite loads with ``allowed_objects="all"``, which in langchain-core 1.x admits
        only the classes listed in ``langchain_core.load.mapping`` (LangChain's own partner
        packages), so no third-party model can pass it as written. The checks are the
        same: the ``dumpd`` form matches the snapshot and ``load`` rebuilds an equal model.
        """
        serialized = dumpd(model)
        assert serialized == snapshot(name="serialized")
        again = load(
            serialized,
            valid_namespaces=model.get_lc_namespace()[:1],
            allowed_objects=package_classes(),
        )
        assert type(again) is CtxChatModel
        assert model.model_dump() == again.model_dump()


class TestCtxChatModelIntegration(_Settings, ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _other_model(self, tiny_llama_dir):
        # A second local model for the per-call ``model=`` override tests.
        self._override = str(tiny_llama_dir)

    @property
    def supports_model_override(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return self._override
