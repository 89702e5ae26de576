"""The one registry: components by kind and name, and the config contract that rebuilds them.

Every configurable component has ``config() -> dict``: JSON-ready, with ``"type"`` set to
the name it is registered under in the ``"component"`` kind (its class name) and the
constructor arguments beside it; models are named by id or path, and nested components
appear as their own configs. `from_config` rebuilds the component from that dict.

Other kinds hold the short names the command line and the evaluation harness accept
(``"scorer"``: ``embedding``, ``bm25``, ...; ``"method"``; ``"backend"``; ``"transform"``).
Targets are ``"module:attribute"`` strings, imported only when first built, so this
module imports nothing above the bottom floor.

Examples:
    >>> from ctx_core._registry import build, from_config, names
    >>> "embedding" in names("scorer")
    True
    >>> scorer = build("scorer", "bm25")
    >>> scorer.config()
    {'type': 'BM25Scorer', 'k1': 0.9, 'b': 0.4}
    >>> from_config(scorer.config()).config() == scorer.config()
    True
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ctx_core.errors import ConfigError

__all__ = [
    "Configurable",
    "build",
    "config_value",
    "from_config",
    "lookup",
    "names",
    "rebuild",
    "register",
    "to_config",
]

Target = str | Callable[..., Any]
C = TypeVar("C", bound="Configurable")

_ENTRIES: dict[str, dict[str, Target]] = {
    "component": {
        "Embedder": "ctx_core.embeddings:Embedder",
        "TokenCounter": "ctx_core.tokens:TokenCounter",
        "EmbeddingScorer": "ctx_core.scoring.embedding:EmbeddingScorer",
        "BM25Scorer": "ctx_core.scoring.bm25:BM25Scorer",
        "CrossEncoderScorer": "ctx_core.scoring.cross_encoder:CrossEncoderScorer",
        "CohereScorer": "ctx_core.scoring.cohere:CohereScorer",
        "Reranker": "ctx_core.rerank:Reranker",
        "HybridSignals": "ctx_core.udcg.signals:HybridSignals",
        "ScorerSignals": "ctx_core.udcg.signals:ScorerSignals",
        "AbstentionUtility": "ctx_core.udcg.utility:AbstentionUtility",
        "UtilityDistractionReranker": "ctx_core.udcg.reranker:UtilityDistractionReranker",
        "InContextRanker": "ctx_core.incontext.ranker:InContextRanker",
        "HeuristicStructurizer": "ctx_core.structure.heuristic:HeuristicStructurizer",
        "LLMStructurizer": "ctx_core.structure.llm:LLMStructurizer",
        "HeuristicMemoryExtractor": "ctx_core.memory.heuristic:HeuristicMemoryExtractor",
        "MemoryExtractor": "ctx_core.memory.extractor:MemoryExtractor",
        "MemoryIndex": "ctx_core.memory.index:MemoryIndex",
        "WorkingContext": "ctx_core.context.working:WorkingContext",
        "TransformersLLM": "ctx_core.llm.transformers_llm:TransformersLLM",
        "OpenAICompatibleLLM": "ctx_core.llm.openai_compatible:OpenAICompatibleLLM",
    },
    "scorer": {
        "embedding": "ctx_core.scoring.embedding:EmbeddingScorer",
        "bm25": "ctx_core.scoring.bm25:BM25Scorer",
        "cross-encoder": "ctx_core.scoring.cross_encoder:CrossEncoderScorer",
        "cohere": "ctx_core.scoring.cohere:CohereScorer",
        "incontext": "ctx_core.incontext.ranker:InContextRanker",
    },
    "backend": {
        "reference": "ctx_core.incontext.backends.reference:ReferenceBackend",
        "sdpa": "ctx_core.incontext.backends.sdpa:SdpaBackend",
        "flex": "ctx_core.incontext.backends.flex:FlexBackend",
        "triton": "ctx_core.incontext.backends.triton:TritonBackend",
    },
    "transform": {
        "score": "ctx_core.batch.transforms:ScoreTransform",
        "rerank": "ctx_core.batch.transforms:RerankTransform",
        "structurize": "ctx_core.batch.structure:StructurizeTransform",
        "extract_memories": "ctx_core.batch.memory:ExtractMemoriesTransform",
    },
}


def register(kind: str, name: str, target: Target) -> None:
    """Make ``target`` available as ``name`` of ``kind``.

    Args:
        kind: ``"component"`` for config round-trips (``name`` is then what the
            component's ``config()["type"]`` holds), or a short-name kind such as
            ``"scorer"``, ``"method"``, ``"backend"``, ``"transform"``.
        name: A non-empty name without whitespace.
        target: A class or factory, or ``"module:attribute"`` imported on first use.

    Raises:
        ValueError: ``kind`` or ``name`` is empty or holds whitespace.
        TypeError: ``target`` is neither callable nor a ``"module:attribute"`` string.
    """
    for label, value in (("kind", kind), ("name", name)):
        if not isinstance(value, str) or not value or any(c.isspace() for c in value):
            raise ValueError(f"{label} must be a non-empty string without spaces, got {value!r}")
    if not (callable(target) or (isinstance(target, str) and target.count(":") == 1)):
        raise TypeError(f"target must be callable or a 'module:attribute' string, got {target!r}")
    _ENTRIES.setdefault(kind, {})[name] = target


def names(kind: str) -> list[str]:
    """The names registered under ``kind``, sorted (empty for an unknown kind)."""
    return sorted(_ENTRIES.get(kind, {}))


def lookup(kind: str, name: str) -> Callable[..., Any]:
    """The class or factory registered as ``name`` of ``kind``, imported if needed.

    Raises:
        ValueError: nothing is registered under that name; the message lists the choices.
    """
    entries = _ENTRIES.get(kind, {})
    if not isinstance(name, str) or name not in entries:
        choices = ", ".join(names(kind)) or "none registered"
        raise ValueError(f"unknown {kind} {name!r}; choose one of {choices}")
    target = entries[name]
    if isinstance(target, str):
        module, attribute = target.split(":")
        target = getattr(importlib.import_module(module), attribute)
        entries[name] = target
    return target


def accepted_options(factory: Callable[..., Any]) -> list[str] | None:
    """Keyword names ``factory`` accepts, or ``None`` when it takes ``**kwargs``."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in keyword]


def build(kind: str, name: str, /, **options: Any) -> Any:
    """Build the ``name`` of ``kind`` with keyword ``options``.

    Raises:
        ValueError: unknown name, or an option the factory does not take (the message
            lists the options it takes).
    """
    factory = lookup(kind, name)
    accepted = accepted_options(factory)
    unknown = sorted(set(options) - set(accepted)) if accepted is not None else []
    if unknown:
        takes = ", ".join(accepted or []) or "no options"
        raise ValueError(f"{kind} {name!r} does not take option(s) {unknown}; it takes: {takes}")
    return factory(**options)


def from_config(config: Mapping[str, Any]) -> Any:
    """Rebuild the component a ``config()`` dict describes (nested configs too).

    Raises:
        ConfigError: ``config`` is not a mapping with a registered ``"type"``, or it
            holds an argument the component does not take.
    """
    if not isinstance(config, Mapping) or not isinstance(config.get("type"), str):
        raise ConfigError(f"config must be a dict with a 'type' name, got {config!r}")
    try:
        cls = lookup("component", config["type"])
    except ValueError as err:
        raise ConfigError(str(err)) from err
    rebuild = getattr(cls, "from_config", None)
    if callable(rebuild):
        return rebuild(dict(config))
    return _construct(cls, config)


def rebuild(value: Any, argument: str = "value") -> Any:
    """A component config (a mapping with a ``"type"``) rebuilt; any other value as it is.

    What a framework field holding a component runs on its input, so it takes the
    component, its config, or ``None`` alike.

    Raises:
        ConfigError: the config names an unknown type or holds an unknown argument; the
            message starts with ``argument``.
    """
    if isinstance(value, Mapping) and "type" in value:
        try:
            return from_config(value)
        except ConfigError as err:
            raise ConfigError(f"{argument}: {err}") from err
    return value


def _construct(cls: Callable[..., Any], config: Mapping[str, Any]) -> Any:
    arguments = {key: _decode(value) for key, value in config.items() if key != "type"}
    accepted = accepted_options(cls)
    unknown = sorted(set(arguments) - set(accepted)) if accepted is not None else []
    if unknown:
        raise ConfigError(
            f"{config['type']} does not take {unknown}; it takes: {', '.join(accepted or [])}"
        )
    return cls(**arguments)


def _decode(value: Any) -> Any:
    if isinstance(value, Mapping) and value.get("type") in _ENTRIES["component"]:
        return from_config(value)
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def config_value(value: Any, argument: str) -> Any:
    """``value`` as it goes into a config: nested components as their configs.

    Args:
        value: A constructor argument as the component holds it.
        argument: Its name, for the error message.

    Raises:
        ConfigError: ``value`` is an object with no ``config()`` and is not JSON data
            (e.g. a model object passed in place of a model id or path).
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [config_value(item, argument) for item in value]
    if isinstance(value, Mapping):
        return {str(k): config_value(v, f"{argument}.{k}") for k, v in value.items()}
    to_dict = getattr(value, "config", None)
    if callable(to_dict):
        return to_config(value)
    raise ConfigError(
        f"{argument} holds a {type(value).__name__} object, which has no config(); "
        "build the component from a model id or path (or a component with config()) "
        "to serialize it"
    )


def to_config(component: Any) -> dict[str, Any]:
    """``component.config()``, checked: a ``"type"`` and nothing JSON cannot hold.

    Raises:
        ConfigError: the component has no ``config()``, or its config is not JSON-ready.
    """
    get = getattr(component, "config", None)
    if not callable(get):
        raise ConfigError(f"{type(component).__name__} has no config(); it cannot be serialized")
    config = get()
    if not isinstance(config, dict) or not isinstance(config.get("type"), str):
        raise ConfigError(f"{type(component).__name__}.config() must return a dict with 'type'")
    try:
        json.dumps(config)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{type(component).__name__}.config() is not JSON-ready: {err}") from err
    return config


class Configurable:
    """Mixin: ``from_config`` rebuilds the class from its own ``config()``.

    Subclasses write ``config()`` (``{"type": <class name>, **arguments}``, see
    `config_value`) and are registered under their class name in ``"component"``.
    """

    def config(self) -> dict[str, Any]:  # pragma: no cover - every subclass overrides it
        """The component's config (``"type"`` and constructor arguments)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls: type[C], config: Mapping[str, Any]) -> C:
        """Rebuild the component from ``config`` (nested component configs are rebuilt too).

        Raises:
            ConfigError: ``config`` names another type or holds an unknown argument.
        """
        if config.get("type") != cls.__name__:
            raise ConfigError(
                f"{cls.__name__}.from_config got a config of type {config.get('type')!r}"
            )
        component: C = _construct(cls, config)
        return component
