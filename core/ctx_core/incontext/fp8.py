"""FP8 (e4m3) matrix products for the engine's linear layers: the ``precision="fp8"`` option.

Once attention is block-sparse, the in-context engine's time is its matrix products (about
1.2x the bf16 floor on an H200). Hopper's FP8 tensor cores run them at about twice the bf16
rate, so the q/k/v/o projections and the gated MLP of every layer up to the scoring layer
can run as FP8 products while norms, residuals, rotary embeddings, attention and the fused
scoring stay in the model's dtype:

* **weights** are quantized once, per output channel: ``scale = amax(row) / 448`` in fp32,
  ``q = round_e4m3(w / scale)``;
* **activations** are quantized per token (row) at every call, with a power-of-two scale
  ``2^ceil(log2(amax(row) / 448))``: multiplying by its inverse is exact, so the cast to
  e4m3 is the only rounding, and the q/k/v projections share one quantized input;
* the product ``(x_q @ w_q^T) * scale_x * scale_w`` runs through ``torch._scaled_mm`` with
  row-wise scales, writing bf16; by default with Hopper's fast FP8 accumulation
  (``use_fast_accum``), whose error is far below the e4m3 rounding of the operands.

[`Fp8Weights`][ctx_core.incontext.fp8.Fp8Weights] holds the quantized weights of one model
(made at first use; a weight changed in place since is quantized again) and builds the
forwards that [`fused_norms_and_mlp`][ctx_core.incontext.norm_mlp.fused_norms_and_mlp] binds during
engine runs (with ``compile``, the MLP's products and its quantizations are one compiled
function). ``Fp8Weights(emulate=True)`` computes the same quantized products in fp32 on any
device: the arithmetic of the FP8 path, for tests and CPU checks (slow; no speed-up).

Examples:
    >>> import torch
    >>> x = torch.tensor([[1.0, -3.0, 0.5], [0.0, 0.0, 0.0]])
    >>> q, scale = quantize_rows(x)
    >>> scale.flatten().tolist()  # 2^ceil(log2(3 / 448)) = 2^-7; a zero row's tiny 2^-108
    [0.0078125, 3.0814879110195774e-33]
    >>> dequantize(q, scale).tolist()[0]
    [1.0, -3.0, 0.5]
    >>> fp8_capability_error("cuda", (8, 0), "A100")
    "precision='fp8' needs a GPU with FP8 tensor cores (compute capability 8.9 or newer: Ada, Hopper, Blackwell); A100 has 8.0"
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "E4M3_MAX",
    "PRECISIONS",
    "Fp8Weights",
    "check_fp8_device",
    "check_precision",
    "dequantize",
    "fp8_capability_error",
    "quantize_rows",
    "quantize_weight",
    "scaled_matmul",
]

#: Largest finite value of ``float8_e4m3fn``.
E4M3_MAX = 448.0
#: Values of the engine's and ranker's ``precision`` option.
PRECISIONS = ("model", "fp8")
#: The projections of an attention module that run in FP8 (every supported family names them so).
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
# Row maxima below this are raised to it: an all-zero row gets a finite scale (2^-108).
_TINY = 2.0**-100


def fp8_capability_error(
    device_type: str, capability: tuple[int, int] | None, name: str
) -> str | None:
    """Why FP8 products cannot run on a device, or ``None`` when they can.

    Args:
        device_type: ``"cuda"``, ``"cpu"``, ...
        capability: The CUDA compute capability ``(major, minor)`` (``None`` off CUDA).
        name: The device's name, for the message.
    """
    if device_type != "cuda":
        return (
            "precision='fp8' needs a CUDA GPU with FP8 tensor cores (compute capability 8.9 or "
            f"newer: Ada, Hopper, Blackwell); the model is on {device_type!r}"
        )
    if capability is None or tuple(capability) < (8, 9):
        have = "unknown" if capability is None else f"{capability[0]}.{capability[1]}"
        return (
            "precision='fp8' needs a GPU with FP8 tensor cores (compute capability 8.9 or "
            f"newer: Ada, Hopper, Blackwell); {name} has {have}"
        )
    return None


def check_precision(precision: Any) -> None:
    """Raise ``ValueError`` unless ``precision`` is one of `PRECISIONS` or an `Fp8Weights`.

    Examples:
        >>> check_precision("fp8")
        >>> check_precision("fp16")
        Traceback (most recent call last):
        ...
        ValueError: precision must be 'model' or 'fp8', got 'fp16'
    """
    if isinstance(precision, Fp8Weights):
        return
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be 'model' or 'fp8', got {precision!r}")


def check_fp8_device(device: Any) -> None:
    """Raise ``ValueError`` unless ``device`` can run FP8 products (CUDA, capability >= 8.9)."""
    import torch

    dev = torch.device(device)
    capability: tuple[int, int] | None = None
    name = str(dev)
    if dev.type == "cuda":
        major, minor = torch.cuda.get_device_capability(dev)
        capability = (int(major), int(minor))
        name = torch.cuda.get_device_name(dev)
    error = fp8_capability_error(dev.type, capability, name)
    if error is None and not hasattr(torch, "_scaled_mm"):
        error = f"precision='fp8' needs torch._scaled_mm (torch {torch.__version__} lacks it)"
    if error is not None:
        raise ValueError(error)


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (per-token) e4m3 quantization with power-of-two scales.

    Args:
        x: ``(M, K)`` activations (bf16, fp16 or fp32).

    Returns:
        ``(q, scale)``: ``q`` ``(M, K)`` ``float8_e4m3fn`` (row-major), ``scale`` ``(M, 1)``
        fp32, with ``x ~ q * scale``. The scale is ``2^ceil(log2(amax / 448))``, so
        ``x / scale`` is exact in ``x``'s dtype and every ``|q| <= 448``.
    """
    import torch

    amax = torch.linalg.vector_norm(x, ord=float("inf"), dim=-1, keepdim=True)
    scale = torch.exp2(torch.ceil(torch.log2(amax.float().clamp(min=_TINY) / E4M3_MAX)))
    # bf16 and fp32 share fp32's exponent range, so 1 / scale and the product are exact in
    # them; fp16 could overflow (a small row's inverse scale): it multiplies in fp32.
    work = x if x.dtype in (torch.bfloat16, torch.float32) else x.float()
    # The clamp only matters if log2 rounds below an exact power of two.
    scaled = (work * (1.0 / scale).to(work.dtype)).clamp_(-E4M3_MAX, E4M3_MAX)
    return scaled.to(torch.float8_e4m3fn), scale


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel e4m3 quantization of a linear layer's ``(N, K)`` weight.

    Returns:
        ``(q, scale)``: ``q`` ``(N, K)`` ``float8_e4m3fn`` (contiguous; ``q.t()`` is the
        column-major operand ``torch._scaled_mm`` wants), ``scale`` ``(1, N)`` fp32
        (``amax(row) / 448``), with ``weight ~ q * scale.T``.
    """
    import torch

    w = weight.detach().float()
    scale = w.abs().amax(dim=1, keepdim=True).clamp(min=_TINY) / E4M3_MAX
    q = (w / scale).clamp_(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).contiguous()
    return q, scale.reshape(1, -1).contiguous()


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``q * scale`` in fp32: ``scale`` ``(M, 1)`` for rows, ``(1, N)`` for a weight's channels.

    A weight's ``(1, N)`` scale multiplies its rows (output channels).
    """
    if scale.shape[0] == 1 and scale.shape[-1] == q.shape[0] and q.shape[0] != 1:
        scale = scale.reshape(-1, 1)
    return q.float() * scale


def scaled_matmul(
    xq: torch.Tensor,
    x_scale: torch.Tensor,
    wq: torch.Tensor,
    w_scale: torch.Tensor,
    out_dtype: torch.dtype,
    *,
    emulate: bool = False,
    fast_accum: bool = True,
) -> torch.Tensor:
    """``(xq * x_scale) @ (wq * w_scale.T).T`` in ``out_dtype``: the FP8 product of a linear layer.

    Args:
        xq: ``(M, K)`` quantized activations, row-major.
        x_scale: ``(M, 1)`` fp32 row scales.
        wq: ``(N, K)`` quantized weight.
        w_scale: ``(1, N)`` fp32 output-channel scales.
        out_dtype: The result's dtype.
        emulate: Dequantize and multiply in fp32 (any device) instead of ``torch._scaled_mm``.
        fast_accum: ``torch._scaled_mm``'s ``use_fast_accum`` (Hopper's faster FP8
            accumulation).
    """
    import torch

    if emulate:
        return (dequantize(xq, x_scale) @ dequantize(wq, w_scale).t()).to(out_dtype)
    # Row-wise scaled FP8 products write bf16 only; cast for other model dtypes.
    out = torch._scaled_mm(
        xq,
        wq.t(),
        scale_a=x_scale,
        scale_b=w_scale,
        out_dtype=torch.bfloat16,
        use_fast_accum=fast_accum,
    )
    return out if out_dtype == torch.bfloat16 else out.to(out_dtype)


class _InputMemo:
    """The last quantized input, reused while the same tensor comes in (q, k and v share it)."""

    def __init__(self) -> None:
        self._slot: tuple[Any, int, Any, Any] | None = None

    def quantize(self, x: Any, quantize: Callable[[Any], Any]) -> tuple[Any, Any]:
        slot = self._slot  # one read: another thread may replace it meanwhile
        if slot is not None and slot[0]() is x and slot[1] == x._version:
            return slot[2], slot[3]
        xq, scale = quantize(x)
        self._slot = (weakref.ref(x), x._version, xq, scale)
        return xq, scale


@functools.cache
def _compiled_quantizer(backend: str) -> Any:
    import torch

    return torch.compile(quantize_rows, dynamic=True, backend=backend)


def _mlp_core(act: Any, emulate: bool, fast_accum: bool) -> Callable[..., Any]:
    def core(
        x: Any, wg: Any, sg: Any, wu: Any, su: Any, wd: Any, sd: Any, bg: Any, bu: Any, bd: Any
    ) -> Any:
        dtype = x.dtype
        xq, xs = quantize_rows(x)
        gate = scaled_matmul(xq, xs, wg, sg, dtype, emulate=emulate, fast_accum=fast_accum)
        up = scaled_matmul(xq, xs, wu, su, dtype, emulate=emulate, fast_accum=fast_accum)
        if bg is not None:
            gate = gate + bg
        if bu is not None:
            up = up + bu
        hq, hs = quantize_rows(act(gate) * up)
        out = scaled_matmul(hq, hs, wd, sd, dtype, emulate=emulate, fast_accum=fast_accum)
        return out if bd is None else out + bd

    return core


_CORES: dict[Any, Any] = {}
_CORES_LOCK = threading.Lock()


def _compiled_mlp_core(act: Any, emulate: bool, fast_accum: bool, backend: str | None) -> Any:
    # One function per activation class and options, shared by every layer and run (the
    # weights are arguments, so the layers share one compiled graph).
    key = (type(act), emulate, fast_accum, backend)
    with _CORES_LOCK:
        if key not in _CORES:
            core = _mlp_core(act, emulate, fast_accum)
            if backend is not None:
                import torch

                core = torch.compile(core, dynamic=True, backend=backend)
            _CORES[key] = core
        return _CORES[key]


class Fp8Weights:
    """The FP8 weights of one model's linear layers, quantized once, and the FP8 forwards.

    Args:
        emulate: Compute the quantized products in fp32 by dequantizing (any device, slow):
            the FP8 path's arithmetic without FP8 hardware.
        fast_accum: ``torch._scaled_mm``'s fast FP8 accumulation (default on, as FP8
            inference libraries do).

    Examples:
        >>> import torch
        >>> layer = torch.nn.Linear(32, 16, bias=False)
        >>> weights = Fp8Weights(emulate=True)
        >>> x = torch.randn(5, 32)
        >>> out = weights.linear(layer, x)
        >>> bool((out - layer(x)).norm() / layer(x).norm() < 0.1)
        True
    """

    def __init__(self, *, emulate: bool = False, fast_accum: bool = True) -> None:
        self.emulate = bool(emulate)
        self.fast_accum = bool(fast_accum)
        self._lock = threading.Lock()
        self._weights: dict[int, tuple[Any, int, int, Any, Any]] = {}

    def __repr__(self) -> str:
        return (
            f"Fp8Weights(emulate={self.emulate}, fast_accum={self.fast_accum}, layers={len(self)})"
        )

    def __len__(self) -> int:
        return len(self._weights)

    def nbytes(self) -> int:
        """Bytes held by the quantized weights and their scales."""
        return sum(
            q.numel() * q.element_size() + s.numel() * s.element_size()
            for _, _, _, q, s in self._weights.values()
        )

    def clear(self) -> None:
        """Drop every quantized weight (they are made again at next use)."""
        with self._lock:
            self._weights.clear()

    def weight(self, module: Any) -> tuple[Any, Any]:
        """``(q, scale)`` of a linear module's weight, quantized at first use.

        A weight replaced or changed in place since (another tensor, or its version
        counter moved) is quantized again.
        """
        weight = module.weight
        key = id(module)
        entry = self._weights.get(key)
        if (
            entry is None
            or entry[0]() is not module
            or entry[1] != weight.data_ptr()
            or entry[2] != weight._version
        ):
            with self._lock:
                q, scale = quantize_weight(weight)
                entry = (weakref.ref(module), weight.data_ptr(), weight._version, q, scale)
                self._weights[key] = entry
        return entry[3], entry[4]

    def linear(
        self, module: Any, x: Any, *, memo: _InputMemo | None = None, compile: str | None = None
    ) -> Any:
        """``module(x)`` (an ``nn.Linear``) with the product in FP8.

        Args:
            module: The linear layer.
            x: Its input ``(..., K)``.
            memo: Reuse the quantized input while the same tensor comes in.
            compile: A ``torch.compile`` backend for the input's quantization.
        """
        wq, ws = self.weight(module)
        shape = x.shape
        quantizer = _compiled_quantizer(compile) if compile else quantize_rows

        def quantize(t: Any) -> tuple[Any, Any]:
            return quantizer(t.reshape(-1, shape[-1]).contiguous())

        # The memo is keyed on the caller's tensor (a reshape would be a new object each call).
        xq, xs = memo.quantize(x, quantize) if memo is not None else quantize(x)
        out = scaled_matmul(
            xq, xs, wq, ws, x.dtype, emulate=self.emulate, fast_accum=self.fast_accum
        )
        if module.bias is not None:
            out = out + module.bias
        return out.reshape(*shape[:-1], out.shape[-1])

    def mlp(self, module: Any, x: Any, *, compile: str | None = None) -> Any:
        """A gated MLP (``down(act(gate(x)) * up(x))``) with its three products in FP8.

        With ``compile`` the quantizations, the activation product and the products are one
        compiled function.
        """
        gate, up, down = module.gate_proj, module.up_proj, module.down_proj
        wg, sg = self.weight(gate)
        wu, su = self.weight(up)
        wd, sd = self.weight(down)
        core = _compiled_mlp_core(module.act_fn, self.emulate, self.fast_accum, compile)
        shape = x.shape
        out = core(
            x.reshape(-1, shape[-1]).contiguous(),
            wg,
            sg,
            wu,
            su,
            wd,
            sd,
            gate.bias,
            up.bias,
            down.bias,
        )
        return out.reshape(*shape[:-1], out.shape[-1])

    def linear_forward(
        self, module: Any, memo: _InputMemo | None = None, compile: str | None = None
    ) -> Callable[[Any], Any]:
        """A ``forward`` for ``module`` that runs `linear`."""

        def forward(x: Any) -> Any:
            return self.linear(module, x, memo=memo, compile=compile)

        return forward

    def mlp_forward(self, module: Any, compile: str | None = None) -> Callable[[Any], Any]:
        """A ``forward`` for a gated MLP module that runs `mlp`."""

        def forward(x: Any) -> Any:
            return self.mlp(module, x, compile=compile)

        return forward


def is_gated_mlp(module: Any) -> bool:
    """Whether ``module`` has the gated MLP's parts (``gate_proj``, ``up_proj``, ``down_proj``, ``act_fn``)."""
    return all(hasattr(module, n) for n in ("gate_proj", "up_proj", "down_proj", "act_fn"))
