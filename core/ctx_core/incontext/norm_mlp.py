"""The decoder layers' norms and MLP, compiled or run in chunks: the engine's fusion options.

Once attention is block-sparse, what a long ranking prompt costs beyond its matrix products
is mostly memory-bound pointwise work in the model's own code: an RMSNorm in float32 makes
about six passes over the activations, the gated MLP's ``act(gate) * up`` three. On an H200
at 80k tokens that is about 10 ms per layer, 200 ms over 20 layers, as much as a quarter of
the matrix products. ``compile`` hands the forward functions of each decoder layer's norms
and MLP to ``torch.compile`` (one compiled function per module *class*, shared by all layers
and by every run, dynamic in the token count), so each norm becomes a single pass and the
MLP's activation product one kernel.

``mlp_chunk_tokens`` bounds the other large term of a long prompt's memory: the gated MLP's
intermediate activations (three ``tokens x intermediate_size`` tensors, 6.9 GB for 80k
tokens of a Mistral-7B shape in bf16). The MLP is applied token-wise, so running it over
chunks of tokens gives the same result with a fixed-size intermediate.

``fp8`` (an [`Fp8Weights`][ctx_core.incontext.fp8.Fp8Weights]) runs each layer's q/k/v/o
projections and gated MLP as FP8 products (see [`ctx_core.incontext.fp8`][ctx_core.incontext.fp8]); unlike
the other two it changes the outputs (by FP8 rounding). With ``compile`` too, the MLP's
products and quantizations are one compiled function per activation class.

The first two never change the model's outputs, and none changes the modelling code: while
[`fused_norms_and_mlp`][ctx_core.incontext.norm_mlp.fused_norms_and_mlp] is active the modules' ``forward`` is rebound per instance, and
on leaving it the modules are as they were. [`InContextEngine`][ctx_core.incontext.engine.InContextEngine]
(``compile=``, ``mlp_chunk_tokens=``) and
[`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] (the same options) apply it around their
forward passes. Attention and the rotary embedding are left as they are (attention runs in
the ranker's backend).

Examples:
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> model = LlamaForCausalLM(LlamaConfig(
    ...     vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
    ...     num_attention_heads=2, num_key_value_heads=1))
    >>> with fused_norms_and_mlp(model, compile="eager", mlp_chunk_tokens=4) as count:
    ...     count  # 2 layers x (input norm, post-attention norm, MLP)
    6
    >>> "forward" in vars(model.model.layers[0].mlp)  # as it was
    False
"""

from __future__ import annotations

import functools
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctx_core.incontext.fp8 import Fp8Weights

__all__ = ["check_fusion_options", "fused_norms_and_mlp"]

_MISSING = object()
_LOCK = threading.Lock()


def check_fusion_options(compile: bool | str, mlp_chunk_tokens: int | None) -> None:
    """Raise ``ValueError`` unless the options are valid.

    Args:
        compile: ``False``, ``True`` (``torch.compile``'s default backend, ``"inductor"``) or
            a ``torch.compile`` backend name (``"eager"`` only checks the plumbing).
        mlp_chunk_tokens: Tokens per MLP chunk (positive), or ``None`` for no chunks.

    Examples:
        >>> check_fusion_options(True, 8192)
        >>> check_fusion_options(False, 0)
        Traceback (most recent call last):
        ...
        ValueError: mlp_chunk_tokens must be a positive int or None, got 0
    """
    if not isinstance(compile, (bool, str)) or compile == "":
        raise ValueError(f"compile must be a bool or a torch.compile backend name, got {compile!r}")
    if mlp_chunk_tokens is not None and (
        not isinstance(mlp_chunk_tokens, int)
        or isinstance(mlp_chunk_tokens, bool)
        or mlp_chunk_tokens < 1
    ):
        raise ValueError(
            f"mlp_chunk_tokens must be a positive int or None, got {mlp_chunk_tokens!r}"
        )


def _layers(model: Any) -> Any:
    decoder = getattr(model, "model", model)
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no decoder layers (.model.layers)")
    return layers


def _norms_and_mlp(layer: Any) -> list[Any]:
    return [
        module
        for name, module in layer.named_children()
        if name == "mlp" or name.endswith("norm") or name.endswith("layernorm")
    ]


@functools.cache
def _compiled(cls: Any, backend: str) -> Any:
    # One compiled function per module class, kept for the process: every layer and every
    # run shares it, so nothing is compiled twice.
    import torch

    return torch.compile(cls.forward, dynamic=True, backend=backend)


def _chunked(inner: Any, tokens: int) -> Any:
    def forward(hidden: Any) -> Any:
        length = hidden.shape[-2]
        if length <= tokens:
            return inner(hidden)
        first = inner(hidden[..., :tokens, :])
        out = first.new_empty(*hidden.shape[:-1], first.shape[-1])
        out[..., :tokens, :] = first
        del first
        for start in range(tokens, length, tokens):
            out[..., start : start + tokens, :] = inner(hidden[..., start : start + tokens, :])
        return out

    return forward


@dataclass
class _Patch:
    """The rebound modules of one model, with what each held before, and who uses them."""

    saved: list[tuple[Any, Any]] = field(default_factory=list)
    users: int = 0
    fp8: Any = None  # the Fp8Weights whose forwards are bound, if any

    def rebind(self, module: Any, forward: Any) -> None:
        if all(m is not module for m, _ in self.saved):
            self.saved.append((module, vars(module).get("forward", _MISSING)))
        module.forward = forward

    def undo(self) -> None:
        for module, previous in reversed(self.saved):
            if previous is _MISSING:
                del module.forward
            else:
                module.forward = previous
        self.saved.clear()


# Models patched now, by id: concurrent runs on one model share one patch, and the last to
# leave restores the modules (a run leaving early must not pull them from under another).
_ACTIVE: dict[int, _Patch] = {}


def _apply(
    model: Any, compile: bool | str, mlp_chunk_tokens: int | None, fp8: Fp8Weights | None = None
) -> _Patch:
    patch = _Patch(fp8=fp8)
    backend = ("inductor" if compile is True else str(compile)) if compile else None
    memo = None
    if fp8 is not None:
        from ctx_core.incontext.fp8 import PROJECTIONS, _InputMemo, is_gated_mlp

        memo = _InputMemo()  # one slot for all layers: holds one quantized input at a time
    try:
        for layer in _layers(model):
            if backend is not None:
                for module in _norms_and_mlp(layer):
                    compiled = _compiled(module.__class__, backend)
                    patch.rebind(module, types.MethodType(compiled, module))
            mlp = getattr(layer, "mlp", None)
            if fp8 is not None:
                attention = getattr(layer, "self_attn", None)
                for name in PROJECTIONS:
                    linear = getattr(attention, name, None)
                    if linear is None:
                        raise ValueError(f"{type(attention).__name__} has no {name} for FP8")
                    patch.rebind(linear, fp8.linear_forward(linear, memo, backend))
                if mlp is None or not is_gated_mlp(mlp):
                    raise ValueError(f"{type(mlp).__name__} is not a gated MLP; FP8 needs one")
                patch.rebind(mlp, fp8.mlp_forward(mlp, backend))
            if mlp_chunk_tokens is not None and mlp is not None:
                patch.rebind(mlp, _chunked(mlp.forward, mlp_chunk_tokens))
    except BaseException:
        patch.undo()
        raise
    return patch


@contextmanager
def fused_norms_and_mlp(
    model: Any,
    *,
    compile: bool | str = False,
    mlp_chunk_tokens: int | None = None,
    fp8: Fp8Weights | None = None,
) -> Iterator[int]:
    """Compile and/or chunk the decoder layers' norms and MLP, or run them in FP8, while the block runs.

    Yields the number of modules rebound (0 when all options are off: then nothing is
    touched). On exit every module is as it was, instance-level ``forward`` overrides
    included. Entered again on the same model while active (another thread, a nested
    call), it shares the active patch: the outputs are the same either way, except that
    FP8 and non-FP8 runs cannot share one (that raises).

    Args:
        model: A Hugging Face decoder (``*ForCausalLM`` or its ``.model``).
        compile: ``True`` or a ``torch.compile`` backend name: compile each layer's norms
            and MLP.
        mlp_chunk_tokens: Run each layer's MLP over chunks of this many tokens.
        fp8: Run each layer's q/k/v/o projections and gated MLP as FP8 products with these
            weights.

    Raises:
        ValueError: Invalid options, or a model without decoder layers (or, with ``fp8``,
            without the projections and gated MLP).
        RuntimeError: The model runs with other FP8 weights (or none) in another thread.
    """
    check_fusion_options(compile, mlp_chunk_tokens)
    key = id(model)
    if not compile and mlp_chunk_tokens is None and fp8 is None:
        with _LOCK:
            active = _ACTIVE.get(key)
            if active is not None and active.fp8 is not None:
                raise RuntimeError(_fp8_clash(active.fp8, None))
        yield 0
        return
    with _LOCK:
        patch = _ACTIVE.get(key)
        if patch is None:
            patch = _ACTIVE[key] = _apply(model, compile, mlp_chunk_tokens, fp8)
        elif patch.fp8 is not fp8:
            raise RuntimeError(_fp8_clash(patch.fp8, fp8))
        patch.users += 1
    try:
        yield len(patch.saved)
    finally:
        with _LOCK:
            patch.users -= 1
            if patch.users == 0:
                patch.undo()
                del _ACTIVE[key]


def _fp8_clash(active: Any, wanted: Any) -> str:
    def describe(fp8: Any) -> str:
        return "model precision" if fp8 is None else f"FP8 ({fp8!r})"

    return (
        f"this model is running in {describe(active)} in another thread or block; a run in "
        f"{describe(wanted)} cannot share it (use one engine per precision at a time)"
    )
