"""How this package's LangChain components serialize: fields holding core components.

A field typed `Component` takes a ctx_core component, its ``config()`` dict
(rebuilt through `ctx_core._registry.from_config`) or ``None`` (the default), and
``model_dump`` writes the component's config, so ``Model.model_validate(m.model_dump())``
and ``model_dump_json`` round-trip without losing the scorer or model. Classes based on
`CtxSerializable` also round-trip through ``langchain_core.load.dumpd``/``load``
(pass ``valid_namespaces=["langchain_ctx"]`` and the classes in ``allowed_objects``).
A value that cannot be written (a framework model, a live index with rows) is never
replaced by a default: ``model_dump_json`` raises [`ConfigError`][ctx_core.errors.ConfigError],
``load`` refuses the ``dumpd`` form (LangChain's ``not_implemented``), and a Python-mode
``model_dump`` keeps the object itself.

Examples:
    >>> from langchain_core.load import dumpd, load
    >>> from ctx_core.scoring import BM25Scorer
    >>> from langchain_ctx import ContextReranker
    >>> reranker = ContextReranker(scorer=BM25Scorer(k1=1.2), top_n=2)
    >>> reranker.model_dump()["scorer"]
    {'type': 'BM25Scorer', 'k1': 1.2, 'b': 0.4}
    >>> again = load(dumpd(reranker), valid_namespaces=["langchain_ctx"],
    ...              allowed_objects=[ContextReranker])
    >>> again.scorer.config()
    {'type': 'BM25Scorer', 'k1': 1.2, 'b': 0.4}
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Annotated, Any

from langchain_core._api import LangChainBetaWarning
from langchain_core.load import Serializable, dumpd, load
from pydantic import (
    BaseModel,
    BeforeValidator,
    PlainSerializer,
    SerializationInfo,
    ValidationInfo,
)
from pydantic_core import PydanticSerializationError

from ctx_core._registry import config_value, rebuild
from ctx_core.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "Component",
    "CtxSerializable",
    "lc_object",
    "package_classes",
    "rebuild_field",
    "revive",
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


def package_classes() -> list[type[Serializable]]:
    """Every `CtxSerializable` class of this package (the ``load`` allowlist)."""
    found: list[type[Serializable]] = []
    todo: list[type[Serializable]] = [CtxSerializable]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return [c for c in found if c.__module__.startswith("langchain_ctx.")]


def revive(value: Any) -> Any:
    """A ``dumpd`` dict of one of this package's classes, rebuilt (anything else as it is)."""
    if isinstance(value, Mapping) and value.get("lc") == 1:
        with warnings.catch_warnings():  # ``load`` is marked beta; its format is stable here
            warnings.simplefilter("ignore", LangChainBetaWarning)
            return load(
                dict(value), valid_namespaces=["langchain_ctx"], allowed_objects=package_classes()
            )
    return value


def lc_object(value: Any, name: str) -> Any:
    """``dumpd(value)`` for a LangChain object that LangChain can serialize.

    Raises:
        ConfigError: LangChain cannot serialize ``value`` (``is_lc_serializable()`` is false).
    """
    if value is None:
        return None
    if not (isinstance(value, Serializable) and value.is_lc_serializable()):
        raise ConfigError(
            f"{name} is a {type(value).__name__}, which LangChain cannot serialize; "
            f"pass the object itself as {name}= when rebuilding"
        )
    return dumpd(value)


class CtxSerializable(Serializable):
    """Base of this package's serializable components: ``dumpd``/``load`` and ``model_dump``.

    The ``lc`` id is the module path and class name, so ``load`` imports the class from
    this package; fields are written as ``model_dump`` writes them (core components as
    their configs), nested LangChain objects as their own ``dumpd``.
    """

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Yes: every field is written as JSON data or a nested LangChain object."""
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """The module path, e.g. ``["langchain_ctx", "reranker"]``."""
        return cls.__module__.split(".")

    def to_json(self) -> Any:
        """LangChain's constructor form, core components written as their configs.

        When a field cannot be written (a framework model, an index with memories) the
        result is LangChain's ``not_implemented`` form, which ``load`` refuses with an
        error naming the class: LangChain calls ``dumpd`` on every run for its callbacks,
        so this must not raise. ``model_dump`` raises the [`ConfigError`][ctx_core.errors.ConfigError] instead.
        """
        serialized = super().to_json()
        if serialized["type"] != "constructor":  # pragma: no cover - always serializable
            return serialized
        kwargs = serialized["kwargs"]
        plain = {k for k, v in kwargs.items() if not isinstance(v, Serializable)}
        try:
            for key in set(kwargs) - plain:
                lc_object(kwargs[key], key)
            kwargs.update(self.model_dump(mode="json", include=plain))
        except (ConfigError, PydanticSerializationError) as err:
            logger.debug("%s is not serializable: %s", type(self).__name__, err)
            return self.to_json_not_implemented()
        return serialized
