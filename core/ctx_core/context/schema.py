"""Pydantic argument models for the context tools, shared by the framework adapters.

Both LangChain (``args_schema``) and LlamaIndex (``fn_schema``) describe a tool's arguments
with a pydantic v2 model; this builds it once from the core [`ToolSpec`][ctx_core.context.tools.ToolSpec] so the two
adapters cannot drift apart. pydantic is imported lazily: ``ctx_core`` does not depend on it,
and every adapter that calls this already has it.
"""

from __future__ import annotations

from typing import Any, Literal

from ctx_core.context.tools import ToolSpec

__all__ = ["args_model"]

_TYPES: dict[str, type] = {"string": str, "integer": int, "boolean": bool}
_MODELS: dict[tuple[str, str], Any] = {}


def args_model(spec: ToolSpec, suffix: str = "Args") -> Any:
    """A pydantic model of a core tool's arguments (same names, types, limits, enums).

    Args:
        spec: The tool.
        suffix: Appended to the tool's name in CamelCase to name the model.

    Returns:
        A pydantic model class (cached per tool and suffix) that forbids unknown arguments.

    Examples:
        >>> from ctx_core.context import ContextTools
        >>> spec = next(s for s in ContextTools.specs() if s.name == "fold_fragment")
        >>> args_model(spec).__name__
        'FoldFragmentArgs'
    """
    from pydantic import ConfigDict, Field, create_model

    key = (spec.name, suffix)
    if key in _MODELS:
        return _MODELS[key]
    fields: dict[str, Any] = {}
    for param in spec.params:
        annotation: Any = _TYPES[param.type]
        if param.enum is not None:
            annotation = Literal[tuple(param.enum)]
        options: dict[str, Any] = {"description": param.description}
        if param.minimum is not None:
            options["ge"] = param.minimum
        if param.maximum is not None:
            options["le"] = param.maximum
        if param.required:
            fields[param.name] = (annotation, Field(..., **options))
        elif param.default is None:
            fields[param.name] = (annotation | None, Field(None, **options))
        else:
            fields[param.name] = (annotation, Field(param.default, **options))
    name = "".join(part.title() for part in spec.name.split("_")) + suffix
    model = create_model(name, __config__=ConfigDict(extra="forbid"), **fields)
    model.__doc__ = spec.description
    _MODELS[key] = model
    return model
