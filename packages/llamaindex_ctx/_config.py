"""How this package's LlamaIndex components serialize: fields holding core components.

A field typed `Component` takes a ctx_core component, its ``config()`` dict
(rebuilt through `ctx_core._registry.from_config`) or ``None`` (the default);
``to_dict``/``to_json`` write the component's config, so ``from_dict(to_dict())`` and
``from_json(to_json())`` rebuild the same scorer or model instead of a default. A value
that cannot be written (a framework model, an index holding memories) is never replaced
by a default: ``to_json`` raises [`ConfigError`][ctx_core.errors.ConfigError], and ``to_dict``
(which LlamaIndex also calls for its ingestion cache keys) keeps the object itself. An
unknown argument is an error (``extra="forbid"``).

Examples:
    >>> from ctx_core.scoring import BM25Scorer
    >>> from llamaindex_ctx import ContextRerankPostprocessor
    >>> post = ContextRerankPostprocessor(BM25Scorer(k1=1.2), top_n=2)
    >>> post.to_dict()["scorer"]
    {'type': 'BM25Scorer', 'k1': 1.2, 'b': 0.4}
    >>> ContextRerankPostprocessor.from_dict(post.to_dict()).scorer.config()
    {'type': 'BM25Scorer', 'k1': 1.2, 'b': 0.4}
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from llama_index.core.bridge.pydantic import (
    BaseModel,
    BeforeValidator,
    PlainSerializer,
    SerializationInfo,
    ValidationInfo,
)
from pydantic_core import PydanticSerializationError

from ctx_core._registry import config_value, rebuild
from ctx_core.errors import ConfigError

__all__ = [
    "Component",
    "JsonConfig",
    "rebuild_field",
    "write_field",
]


def rebuild_field(value: Any, info: ValidationInfo) -> Any:
    """Pydantic before-validator: a config dict rebuilt into its component (see `rebuild`)."""
    return rebuild(value, info.field_name or "value")


def write_field(value: Any, info: SerializationInfo) -> Any:
    """Pydantic serializer: a core component as its config.

    In JSON mode a value with no config raises [`ConfigError`][ctx_core.errors.ConfigError]; in Python mode it
    is kept as the object itself, so a Python-mode dump still rebuilds the same
    component (the frameworks dump in Python mode for their own use, e.g. cache keys).
    A pydantic model (e.g. a framework chat model) raises in both modes: pydantic would
    dump it as a plain dict, which rebuilds nothing.
    """
    # An Annotated serializer gets a plain SerializationInfo, without the field's name.
    name = getattr(info, "field_name", None) or "a component field"
    try:
        return config_value(value, name)
    except ConfigError:
        if info.mode_is_json() or isinstance(value, BaseModel):
            raise
        return value


#: A field holding a core component: the object, its config dict, or None (the default).
Component = Annotated[
    Any,
    BeforeValidator(rebuild_field),
    PlainSerializer(write_field, when_used="always"),
]


class JsonConfig:
    """Mixin for a ``BaseComponent``: ``to_json`` dumps in JSON mode, so a field with no
    config raises [`ConfigError`][ctx_core.errors.ConfigError] (not ``json``'s ``TypeError`` on the object)."""

    def to_json(self, **kwargs: Any) -> str:
        """The component as JSON (core components as their configs).

        Raises:
            ConfigError: a field holds an object with no config.
        """
        kwargs.setdefault("mode", "json")
        try:
            data = self.to_dict(**kwargs)  # type: ignore[attr-defined]
        except PydanticSerializationError as err:
            raise ConfigError(str(err)) from err
        return json.dumps(data)
