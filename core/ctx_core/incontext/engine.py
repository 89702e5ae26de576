"""Run a Hugging Face decoder on a segmented prompt and read the scoring-layer attention.

The integration uses transformers' attention-function registry only (no fork of modeling
code): [`register_incontext_attention`][ctx_core.incontext.engine.register_incontext_attention] registers an attention function under
`ATTENTION_NAME` (with transformers' own ``sdpa`` mask function, so a model switched to
it behaves exactly like ``sdpa`` when called normally). During an engine run, a
`_Run` object travels to every attention call as a keyword argument; the function
then computes the block-sparse attention with the chosen backend, ignores transformers' mask,
applies sliding windows in position ids, and at the scoring layer(s) records the signal
tokens' per-candidate log attention mass. After the deepest scoring layer it raises an
internal exception: that layer's output projection and MLP, all later layers, the final norm
and the LM head never run.

Two options fuse the model's own pointwise work around the matrix products during runs
(``compile=True``: the layers' norms and MLP through ``torch.compile``;
``mlp_chunk_tokens=``: the MLP over chunks of tokens, bounding its memory); see
[`ctx_core.incontext.norm_mlp`][ctx_core.incontext.norm_mlp]. Both are off by default and never change the outputs.
``precision="fp8"`` runs the q/k/v/o projections and gated MLPs as FP8 (e4m3) products on
GPUs with FP8 tensor cores (see [`ctx_core.incontext.fp8`][ctx_core.incontext.fp8]); it changes the
outputs by FP8 rounding and combines with both options.

Supported families: Llama (SmolLM2), Mistral, Qwen2, Qwen3, Gemma3 text models.

Examples:
    >>> engine = InContextEngine(model)  # doctest: +SKIP
    >>> out = engine.run(ids, structure, signal_rows=[structure.total_length - 1], layers=[18])  # doctest: +SKIP
    >>> out.logmass[18].shape  # doctest: +SKIP
    torch.Size([9, 1, 100])
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctx_core.errors import require
from ctx_core.incontext.backends import AttentionBackend, get_backend
from ctx_core.incontext.fp8 import Fp8Weights, check_fp8_device, check_precision
from ctx_core.incontext.norm_mlp import check_fusion_options, fused_norms_and_mlp
from ctx_core.incontext.segments import SegmentStructure

if TYPE_CHECKING:
    import torch

__all__ = [
    "ATTENTION_NAME",
    "SUPPORTED_MODEL_TYPES",
    "EngineOutput",
    "InContextEngine",
    "default_scoring_layer",
    "register_incontext_attention",
    "sequence_token_mass",
]

logger = logging.getLogger(__name__)

#: The name the attention function is registered under in transformers.
ATTENTION_NAME = "ctx_incontext"

#: ``config.model_type`` values the engine supports (tested on tiny models of each).
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text")

_RUN_KWARG = "ctx_incontext_run"
_registered = threading.Lock()
_is_registered = False


class _StopForward(Exception):
    """Raised inside the deepest scoring layer: nothing after it runs."""


@dataclass
class _Run:
    structure: SegmentStructure
    backend: AttentionBackend
    signal_rows: Any  # LongTensor of token indices
    layers: frozenset[int]
    stop_layer: int | None
    logmass: dict[int, Any] = field(default_factory=dict)
    capture: Any = None  # called as capture(layer, key, value) before each layer's attention
    # Scoring layer -> (H, S, Tc) attention probabilities over the whole visible sequence
    # (ICR's aggregation), only when asked for.
    token_mass: dict[int, Any] | None = None

    def attend(
        self,
        module: Any,
        query: Any,
        key: Any,
        value: Any,
        *,
        scaling: float,
        sliding_window: int | None,
        softcap: float | None,
    ) -> tuple[Any, None]:
        layer = int(module.layer_idx)
        if self.capture is not None:
            self.capture(layer, key, value)
        if layer in self.layers:
            if self.signal_rows.numel():
                rows = query.index_select(2, self.signal_rows.to(query.device))
                self.logmass[layer] = self.backend.candidate_logmass(
                    rows, key, self.structure, scaling=scaling, softcap=softcap
                )
                if self.token_mass is not None:
                    self.token_mass[layer] = sequence_token_mass(
                        rows,
                        key,
                        self.structure,
                        self.signal_rows,
                        scaling=scaling,
                        softcap=softcap,
                    )
            if layer == self.stop_layer:
                raise _StopForward
        out = self.backend.attend(
            query,
            key,
            value,
            self.structure,
            scaling=scaling,
            sliding_window=sliding_window,
            softcap=softcap,
        )
        return out, None


def sequence_token_mass(
    query_rows: Any,
    key: Any,
    structure: SegmentStructure,
    signal_rows: Any,
    *,
    scaling: float,
    softcap: float | None = None,
) -> Any:
    """Attention probabilities ``(H, S, Tc)`` of the signal rows on each candidate token.

    Unlike the per-candidate log mass (a softmax over candidate tokens only), the softmax
    runs over every token the row may see (instruction, candidates, its own block up to
    itself), as the ICR paper reads attention: a head that looks mostly at the instruction
    or the query puts little mass on any candidate. Sliding windows are not applied, as in
    the per-candidate log mass.
    """
    import torch

    from ctx_core.incontext.backends.base import expand_kv, score_dtype

    heads = query_rows.shape[1]
    dtype = score_dtype(query_rows.dtype)
    keys = expand_kv(key[0], heads).to(dtype)  # (H, T, D)
    logits = torch.einsum("hsd,htd->hst", query_rows[0].to(dtype), keys) * scaling
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    visible = structure.dense_mask(device=key.device, rows=signal_rows.tolist())
    logits = logits.masked_fill(~visible.unsqueeze(0), float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return probs.index_select(-1, structure.candidate_token_index(key.device))


def _incontext_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    softcap: float | None = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    run = kwargs.pop(_RUN_KWARG, None)
    if run is None:  # an ordinary call: behave exactly like transformers' sdpa
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        if softcap is not None:
            kwargs["softcap"] = softcap
        return sdpa_attention_forward(
            module,
            query,
            key,
            value,
            attention_mask,
            dropout=dropout,
            scaling=scaling,
            sliding_window=sliding_window,
            **kwargs,
        )
    if dropout:
        raise ValueError("the in-context engine does not implement attention dropout")
    if scaling is None:
        scaling = 1.0 / math.sqrt(query.shape[-1])
    return run.attend(
        module, query, key, value, scaling=scaling, sliding_window=sliding_window, softcap=softcap
    )


def register_incontext_attention() -> str:
    """Register the attention and mask functions with transformers (once); returns the name."""
    global _is_registered
    with _registered:
        if not _is_registered:
            require("transformers", "local", "The in-context ranker")
            from transformers import AttentionInterface, AttentionMaskInterface
            from transformers.masking_utils import sdpa_mask

            AttentionInterface.register(ATTENTION_NAME, _incontext_attention)
            AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
            _is_registered = True
    return ATTENTION_NAME


def _layer_types(config: Any) -> list[str] | None:
    types = getattr(config, "layer_types", None)
    return list(types) if types else None


def default_scoring_layer(config: Any) -> int:
    """The default scoring layer: about 60% depth (``ceil(0.6 x layers)``, 0-based).

    Models with sliding-window layers (Gemma3) use the nearest full-attention layer, where
    the final query block can see every candidate.

    Examples:
        >>> from types import SimpleNamespace
        >>> default_scoring_layer(SimpleNamespace(num_hidden_layers=32))
        20
        >>> default_scoring_layer(SimpleNamespace(num_hidden_layers=30))
        18
    """
    n = int(config.num_hidden_layers)
    layer = min(n - 1, math.ceil(0.6 * n))
    types = _layer_types(config)
    if types and types[layer] != "full_attention":
        full = [i for i, t in enumerate(types) if t == "full_attention"]
        if full:
            layer = min(full, key=lambda i: (abs(i - layer), -i))
    return layer


@dataclass
class EngineOutput:
    """What one engine run returns.

    Attributes:
        logmass: Scoring layer -> ``(H, S, N)`` per-candidate log attention mass of the
            signal rows (in the order given), float32 (float64 for float64 models).
        hidden_states: With ``output_hidden_states=True`` and ``stop=False``: the decoder's
            hidden states (embeddings, then every layer), else ``None``.
        logits: LM logits of the requested rows (``logits_rows``), else ``None``.
        token_mass: With ``token_mass=True``: scoring layer -> ``(H, S, Tc)`` attention
            probabilities of the signal rows on each candidate token, the softmax taken over
            the whole sequence the row sees (see [`sequence_token_mass`][ctx_core.incontext.engine.sequence_token_mass]), else ``None``.
        stopped_at: The layer the forward pass stopped in, or ``None`` if it ran to the end.
    """

    logmass: dict[int, Any]
    hidden_states: tuple[Any, ...] | None = None
    logits: Any = None
    token_mass: dict[int, Any] | None = None
    stopped_at: int | None = None


class InContextEngine:
    """A Hugging Face decoder-only model switched to block-sparse in-context attention.

    Args:
        model: A loaded ``*ForCausalLM`` of a supported family (see
            `SUPPORTED_MODEL_TYPES`). Its attention implementation is switched to
            `ATTENTION_NAME`, which behaves like ``sdpa`` outside engine runs.
        backend: Attention backend name or instance (``"auto"``: best for the model's device).
        compile: During runs, ``torch.compile`` each decoder layer's norms and MLP (``True``,
            or a ``torch.compile`` backend name; ``"eager"`` only checks the plumbing). Pays
            off on long prompts on a GPU, after a one-time compilation.
        mlp_chunk_tokens: During runs, apply each layer's MLP over chunks of this many
            tokens, so its intermediate activations stop growing with the prompt
            (``None``: whole prompt at once).
        precision: ``"model"`` (the model's dtype throughout) or ``"fp8"``: during runs the
            q/k/v/o projections and gated MLPs are FP8 products (weights quantized once per
            output channel, activations per token); needs a CUDA GPU of compute capability
            8.9 or newer. An [`Fp8Weights`][ctx_core.incontext.fp8.Fp8Weights] sets the
            FP8 options (``Fp8Weights(emulate=True)``: the same arithmetic in fp32 on any
            device, for tests).

    Raises:
        ValueError: the model's family is not supported, an invalid option, or
            ``precision="fp8"`` on a device without FP8 support (CPU, or a GPU below
            compute capability 8.9).
    """

    def __init__(
        self,
        model: Any,
        backend: str | AttentionBackend = "auto",
        *,
        compile: bool | str = False,
        mlp_chunk_tokens: int | None = None,
        precision: str | Fp8Weights = "model",
    ) -> None:
        check_fusion_options(compile, mlp_chunk_tokens)
        check_precision(precision)
        config = getattr(model, "config", None)
        model_type = getattr(config, "model_type", None)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"model family {model_type!r} is not supported by the in-context ranker; "
                f"supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
            )
        decoder = getattr(model, "model", None)
        if decoder is None or not hasattr(decoder, "layers"):
            raise ValueError(f"{type(model).__name__} has no decoder with .layers")
        self._ensure_attention(model)
        self.model = model
        self.decoder = decoder
        self.config = config
        self.num_layers = int(model.config.num_hidden_layers)
        self.backend = get_backend(backend, model.device)
        self.compile = compile
        self.mlp_chunk_tokens = mlp_chunk_tokens
        #: The FP8 weights (quantized at first use), or ``None`` in the model's precision.
        self.fp8: Fp8Weights | None = None
        if isinstance(precision, Fp8Weights):
            if not precision.emulate:
                check_fp8_device(model.device)
            self.fp8 = precision
        elif precision == "fp8":
            check_fp8_device(model.device)
            self.fp8 = Fp8Weights()
        self.precision = "model" if self.fp8 is None else "fp8"
        self._dict_masks = model_type in ("qwen2", "qwen3", "gemma3_text")

    @staticmethod
    def _ensure_attention(model: Any) -> None:
        name = register_incontext_attention()
        current = model.config._attn_implementation
        if current != name:
            if current not in (None, "sdpa"):
                logger.info(
                    "switching %s from %r to %r attention (it behaves like 'sdpa' outside "
                    "in-context runs)",
                    type(model).__name__,
                    current,
                    name,
                )
            model.set_attn_implementation(name)

    def __repr__(self) -> str:
        fp8 = ", precision='fp8'" if self.fp8 is not None else ""
        return f"InContextEngine(model={type(self.model).__name__}, backend={self.backend.name!r}{fp8})"

    @contextmanager
    def fused(self) -> Iterator[int]:
        """The ``compile``, ``mlp_chunk_tokens`` and ``precision`` options applied to the model, for a block.

        Every [`run`][ctx_core.incontext.engine.InContextEngine.run] is inside it; use it to run the model's own forward under the same
        fusion (a baseline). Yields the number of modules rebound (0 with all options
        off); on exit the model is as it was.
        """
        with fused_norms_and_mlp(
            self.model,
            compile=self.compile,
            mlp_chunk_tokens=self.mlp_chunk_tokens,
            fp8=self.fp8,
        ) as count:
            yield count

    @property
    def device(self) -> torch.device:
        """The model's device."""
        return self.model.device

    def run(
        self,
        input_ids: Sequence[int] | torch.Tensor,
        structure: SegmentStructure,
        *,
        signal_rows: Sequence[int] = (),
        layers: Sequence[int] = (),
        stop: bool = True,
        output_hidden_states: bool = False,
        logits_rows: Sequence[int] | None = None,
        capture: Any = None,
        token_mass: bool = False,
    ) -> EngineOutput:
        """One forward pass over a segmented prompt.

        Args:
            input_ids: The prompt's token ids (``structure.total_length`` of them).
            structure: Its segments (decides the mask and the position ids).
            signal_rows: Token indices whose attention to candidates is scored.
            layers: Scoring layers (0-based) at which to record the candidates' log mass.
            stop: Stop inside the deepest scoring layer (nothing after it runs).
            output_hidden_states: Return the decoder's hidden states (needs ``stop=False``).
            logits_rows: Also return the LM logits of these token indices (needs
                ``stop=False``; runs the LM head on those rows only).
            capture: Called as ``capture(layer, key, value)`` with each layer's keys and
                values ``(1, H_kv, T, D)`` (after rotary embedding) before its attention;
                how [`ctx_core.incontext.states`][ctx_core.incontext.states] collects candidate states.
            token_mass: Also return the signal rows' attention probabilities on each
                candidate token at the scoring layers (`EngineOutput.token_mass`).

        Returns:
            An [`EngineOutput`][ctx_core.incontext.engine.EngineOutput].
        """
        import torch

        ids = torch.as_tensor(input_ids, dtype=torch.long, device=self.device).reshape(1, -1)
        if ids.shape[1] != structure.total_length:
            raise ValueError(
                f"input_ids has {ids.shape[1]} tokens but the structure describes "
                f"{structure.total_length}"
            )
        layer_set = sorted({int(i) for i in layers})
        for i in layer_set:
            if not 0 <= i < self.num_layers:
                raise ValueError(f"scoring layer {i} out of range (0..{self.num_layers - 1})")
        if layer_set and not signal_rows:
            raise ValueError("signal_rows must name at least one token when layers are given")
        if stop and (output_hidden_states or logits_rows is not None):
            raise ValueError("output_hidden_states and logits_rows need stop=False")
        # Someone may have switched the model's attention since: switch it back.
        self._ensure_attention(self.model)
        rows = torch.as_tensor(list(signal_rows), dtype=torch.long, device=self.device)
        if rows.numel() and (rows.min() < 0 or rows.max() >= structure.total_length):
            raise ValueError("signal_rows must be token indices inside the prompt")
        run = _Run(
            structure=structure,
            backend=self.backend,
            signal_rows=rows,
            layers=frozenset(layer_set),
            stop_layer=layer_set[-1] if (stop and layer_set) else None,
            capture=capture,
            token_mass={} if token_mass else None,
        )
        positions = structure.position_ids(self.device).reshape(1, -1)
        # A 4-D placeholder: transformers returns it untouched instead of building a mask.
        placeholder = torch.ones(1, 1, 1, 1, dtype=torch.bool, device=self.device)
        mask: Any = placeholder
        if self._dict_masks:
            mask = {"full_attention": placeholder, "sliding_attention": placeholder}
        options: dict[str, Any] = {
            "input_ids": ids,
            "position_ids": positions,
            "attention_mask": mask,
            "use_cache": False,
            _RUN_KWARG: run,
        }
        output = EngineOutput(logmass=run.logmass, token_mass=run.token_mass)
        try:
            with self.fused():
                if logits_rows is not None:
                    keep = torch.as_tensor(list(logits_rows), dtype=torch.long, device=self.device)
                    result = self.model(
                        **options, logits_to_keep=keep, output_hidden_states=output_hidden_states
                    )
                    output.logits = result.logits[0]
                else:
                    result = self.decoder(**options, output_hidden_states=output_hidden_states)
            if output_hidden_states:
                output.hidden_states = tuple(result.hidden_states)
        except _StopForward:
            output.stopped_at = run.stop_layer
        return output
