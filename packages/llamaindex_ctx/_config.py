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
    "PlainConfig",
    "rebuild_field",
    "write_field",
    "write_value",
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


def write_value(value: Any, argument: str, *, json_mode: bool) -> Any:
    """``value`` as a plain class writes it: a core component as its config.

    A value with no config raises [`ConfigError`][ctx_core.errors.ConfigError] in JSON
    mode and is kept as the object itself otherwise (as `write_field` does).
    """
    try:
        return config_value(value, argument)
    except ConfigError:
        if json_mode:
            raise
        return value


class PlainConfig:
    """Mixin: LlamaIndex's ``to_dict``/``from_dict``/``to_json``/``from_json`` for a class
    that is not a pydantic ``BaseComponent`` (a tool spec, a retriever).

    Subclasses write ``_arguments(json_mode)``: the constructor's keyword arguments as
    written (see `write_value`); ``from_dict`` rebuilds nested component configs and calls
    the constructor, so an unknown key is the constructor's ``TypeError``.
    """

    @classmethod
    def class_name(cls) -> str:
        """Name used in serialization."""
        return cls.__name__

    def _arguments(self, json_mode: bool) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_dict(self, **kwargs: Any) -> dict[str, Any]:
        """The constructor arguments (core components as their configs) and ``class_name``.

        ``mode="json"`` raises [`ConfigError`][ctx_core.errors.ConfigError] for a value with
        no config; the default (Python) mode keeps such a value as the object itself.
        """
        data = self._arguments(kwargs.get("mode") == "json")
        data["class_name"] = self.class_name()
        return data

    def to_json(self, **kwargs: Any) -> str:
        """The component as JSON (see `to_dict`).

        Raises:
            ConfigError: an argument holds an object with no config.
        """
        return json.dumps(self.to_dict(mode="json"))

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> Any:
        """Rebuild from ``to_dict``'s output (``kwargs`` override its values).

        Raises:
            ConfigError: ``data`` names another class or holds an unknown component type.
        """
        data = {**data, **kwargs}
        name = data.pop("class_name", cls.class_name())
        if name != cls.class_name():
            raise ConfigError(f"{cls.__name__}.from_dict got data of class {name!r}")
        return cls(**{key: rebuild(value, key) for key, value in data.items()})

    @classmethod
    def from_json(cls, data_str: str, **kwargs: Any) -> Any:
        """Rebuild from ``to_json``'s output."""
        return cls.from_dict(json.loads(data_str), **kwargs)
