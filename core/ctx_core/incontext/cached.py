"""The cached query path: only the query blocks' tokens run through the layers.

With the query-free layout a candidate's keys and values do not depend on the query, so they
are computed once (`encode_blocks`, into a
[`DocumentStateCache`][ctx_core.incontext.states.DocumentStateCache]) and every later query runs only its
own block(s) through the model (`run_cached`). At each layer the backend's
[`attend_cached`][ctx_core.incontext.backends.base.AttentionBackend.attend_cached] attends from the
query tokens to the cached instruction and candidate states and, causally, to the query
block itself; at the scoring layer
[`cached_logmass`][ctx_core.incontext.backends.base.AttentionBackend.cached_logmass] reads the
candidates' cached keys. The result equals a full query-free pass (the candidates' states
are the same numbers) up to float rounding.

Several query blocks run in one pass as separate *query segments* (each sees the pool and
itself, never the others): several questions over one pool, and the calibration block.

Examples:
    >>> layout = QueryLayout((3, 2), offset=100)
    >>> layout.positions_list()
    [100, 101, 102, 100, 101]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctx_core.incontext.engine import _RUN_KWARG, _StopForward

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.backends.base import AttentionBackend
    from ctx_core.incontext.engine import InContextEngine
    from ctx_core.incontext.states import DocumentStateCache, PoolView

__all__ = ["CachedQueryGraph", "QueryLayout", "encode_blocks", "run_cached"]


@dataclass(frozen=True)
class QueryLayout:
    """Query segments of a cached pass: their lengths and the position ids they start at.

    Args:
        lengths: Tokens in each query segment (each >= 1).
        offset: Position id of the first token of every segment, or one per segment.
    """

    lengths: tuple[int, ...]
    offset: int | tuple[int, ...]
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lengths", tuple(int(n) for n in self.lengths))
        if not self.lengths or any(n < 1 for n in self.lengths):
            raise ValueError(f"query segment lengths must all be >= 1, got {list(self.lengths)}")
        offsets = (
            (int(self.offset),) * len(self.lengths)
            if isinstance(self.offset, int)
            else tuple(int(x) for x in self.offset)
        )
        if len(offsets) != len(self.lengths) or any(x < 0 for x in offsets):
            raise ValueError("offset must be one position id >= 0 or one per query segment")
        object.__setattr__(self, "offset", offsets)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Position id of each segment's first token."""
        offsets = self.offset
        assert isinstance(offsets, tuple)
        return offsets

    @property
    def total(self) -> int:
        """Tokens in all query segments."""
        return sum(self.lengths)

    def span(self, j: int) -> tuple[int, int]:
        """``(start, stop)`` of segment ``j`` among the query tokens."""
        start = sum(self.lengths[:j])
        return start, start + self.lengths[j]

    def positions_list(self) -> list[int]:
        """Position id of every query token."""
        return [o + i for n, o in zip(self.lengths, self.offsets, strict=True) for i in range(n)]

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """Memoize a derived object (tensors, kernel plans) on this layout."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def positions(self, device: Any) -> torch.Tensor:
        """Position ids ``(Tq,)`` on ``device``."""
        import torch

        result: torch.Tensor = self.memo(
            ("positions", str(device)),
            lambda: torch.tensor(self.positions_list(), dtype=torch.long, device=device),
        )
        return result

    def segment_ids(self, device: Any) -> torch.Tensor:
        """Segment number of every query token ``(Tq,)``."""
        import torch

        def build() -> torch.Tensor:
            lengths = torch.tensor(self.lengths)
            ids = torch.repeat_interleave(torch.arange(len(self.lengths)), lengths)
            return ids.to(device)

        result: torch.Tensor = self.memo(("segments", str(device)), build)
        return result

    def dense_mask(self, view: PoolView, window: int | None, device: Any) -> torch.Tensor:
        """``(Tq, P + Tq)`` boolean mask: the whole prefix, then causally the own segment.

        The segment rule of [`attention_rule`][ctx_core.incontext.segments.attention_rule] for query
        tokens, with sliding windows in position ids.
        """
        import torch

        def build() -> torch.Tensor:
            pos_q = self.positions(device)
            seg = self.segment_ids(device)
            idx = torch.arange(self.total, device=device)
            own = (seg[:, None] == seg[None, :]) & (idx[None, :] <= idx[:, None])
            prefix = torch.ones(self.total, view.prefix_length, dtype=torch.bool, device=device)
            if window is not None:
                pos_p = view.prefix_positions().to(device)
                prefix = prefix & ((pos_q[:, None] - pos_p[None, :]) < window)
                own = own & ((pos_q[:, None] - pos_q[None, :]) < window)
            return torch.cat([prefix, own], dim=1)

        result: torch.Tensor = view.memo(("dense-mask", self, window, str(device)), build)
        return result


@dataclass
class _CachedRun:
    """Travels to every attention call of a cached pass (like the engine's ``_Run``)."""

    view: PoolView
    layout: QueryLayout
    backend: AttentionBackend
    signal_rows: Any
    layers: frozenset[int]
    stop_layer: int
    logmass: dict[int, Any] = field(default_factory=dict)

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
        if layer in self.layers:
            rows = query.index_select(2, self.signal_rows)
            self.logmass[layer] = self.backend.cached_logmass(
                rows, self.view, layer, scaling=scaling, softcap=softcap
            )
            if layer == self.stop_layer:
                raise _StopForward
        out = self.backend.attend_cached(
            query,
            key,
            value,
            self.view,
            layer,
            self.layout,
            scaling=scaling,
            sliding_window=sliding_window,
            softcap=softcap,
        )
        return out, None


def run_cached(
    engine: InContextEngine,
    view: PoolView,
    layout: QueryLayout,
    input_ids: Sequence[int] | torch.Tensor,
    *,
    signal_rows: Sequence[int] | torch.Tensor,
    layers: Sequence[int],
) -> dict[int, torch.Tensor]:
    """Run the query segments over a cached pool; the candidates' log mass per scoring layer.

    Args:
        engine: The engine of the model the states were computed with.
        view: The pinned pool ([`pool`][ctx_core.incontext.states.DocumentStateCache.pool]).
        layout: The query segments.
        input_ids: Their token ids, segment after segment (``layout.total`` of them).
        signal_rows: Indices (among the query tokens) of the signal tokens.
        layers: Scoring layers; the deepest must be the cache's layer ``S`` or below.

    Returns:
        Scoring layer -> ``(H, S, N)`` log masses, as `InContextEngine.run` records.
    """
    import torch

    device = engine.device
    ids = torch.as_tensor(input_ids, dtype=torch.long, device=device).reshape(1, -1)
    if ids.shape[1] != layout.total:
        raise ValueError(f"input_ids has {ids.shape[1]} tokens, the layout {layout.total}")
    layer_set = sorted({int(x) for x in layers})
    if not layer_set:
        raise ValueError("layers must name at least one scoring layer")
    if layer_set[-1] >= view.keys.shape[0]:
        raise ValueError(
            f"scoring layer {layer_set[-1]} is deeper than the cached states (layer "
            f"{view.keys.shape[0] - 1})"
        )
    rows = torch.as_tensor(signal_rows, dtype=torch.long, device=device).reshape(-1)
    if rows.numel() == 0 or int(rows.min()) < 0 or int(rows.max()) >= layout.total:
        raise ValueError("signal_rows must be token indices inside the query segments")
    run = _CachedRun(
        view=view,
        layout=layout,
        backend=engine.backend,
        signal_rows=rows,
        layers=frozenset(layer_set),
        stop_layer=layer_set[-1],
    )
    _forward_cached(engine, ids, layout.positions(device).reshape(1, -1), run)
    return run.logmass


def _forward_cached(engine: InContextEngine, ids: Any, positions: Any, run: _CachedRun) -> None:
    """The decoder's forward over the query tokens, stopped inside the scoring layer."""
    import torch

    placeholder = torch.ones(1, 1, 1, 1, dtype=torch.bool, device=ids.device)
    mask: Any = placeholder
    if engine._dict_masks:
        mask = {"full_attention": placeholder, "sliding_attention": placeholder}
    try:
        with engine.fused():
            engine.decoder(
                input_ids=ids,
                position_ids=positions,
                attention_mask=mask,
                use_cache=False,
                **{_RUN_KWARG: run},
            )
    except _StopForward:
        return
    raise RuntimeError("the cached pass did not stop at its scoring layer")  # pragma: no cover


def encode_blocks(
    engine: InContextEngine,
    cache: DocumentStateCache,
    instruction_ids: Sequence[int],
    blocks: Sequence[tuple[str, Sequence[int]]],
    *,
    max_pass_tokens: int = 16384,
    on_pass: Callable[[int], None] | None = None,
) -> int:
    """Compute the states of candidate blocks and store them in ``cache`` (the cold path).

    Each pass holds the instruction and as many blocks as fit ``max_pass_tokens``, plus a
    one-token query block that nothing reads; the forward pass stops inside the cache's
    layer ``S`` once its keys are captured. Blocks already cached are skipped. The
    instruction's states are stored with the first pass.

    Args:
        engine: The model's engine.
        cache: A cache bound to this model and template.
        instruction_ids: The (query-free) instruction's token ids.
        blocks: ``(key, token ids)`` of each candidate block.
        max_pass_tokens: Token capacity of one encoding pass.
        on_pass: Called with the number of blocks each pass encoded (progress bars).

    Returns:
        How many blocks were encoded.
    """
    import torch

    from ctx_core.incontext.segments import SegmentStructure

    spec = cache.spec
    if spec is None:
        raise RuntimeError("bind the cache (DocumentStateCache.bind) before encoding")
    todo: dict[str, Sequence[int]] = {}
    for key, ids in blocks:
        if key not in todo and key not in cache:
            todo[key] = ids
    need_instruction = not cache.has_instruction()
    if not todo and not need_instruction:
        return 0
    L = len(instruction_ids)
    groups: list[list[str]] = []
    current: list[str] = []
    used = L
    for key, ids in todo.items():
        if current and used + len(ids) + 1 > max_pass_tokens:
            groups.append(current)
            current, used = [], L
        current.append(key)
        used += len(ids)
    if current or need_instruction:
        groups.append(current)
    S = spec.layer
    for group in groups:
        lengths = [len(todo[k]) for k in group]
        ids = list(instruction_ids)
        for key in group:
            ids.extend(todo[key])
        ids.append(int(instruction_ids[-1]))  # a one-token query block nothing reads
        structure = SegmentStructure(
            L, tuple(lengths), (1,), query_offset=L + max(lengths, default=0)
        )
        captured: dict[int, tuple[Any, Any]] = {}

        def capture(layer: int, key: Any, value: Any, store: dict[int, Any] = captured) -> None:
            if layer <= S:
                store[layer] = (key[0], value[0])

        with torch.no_grad():
            engine.run(ids, structure, signal_rows=[len(ids) - 1], layers=[S], capture=capture)
        if len(captured) != S + 1:
            raise RuntimeError(f"captured {len(captured)} layers of states, expected {S + 1}")
        keys = [captured[layer][0] for layer in range(S + 1)]
        values = [captured[layer][1] for layer in range(S)]

        def states(a: int, b: int, keys: list[Any] = keys, values: list[Any] = values) -> Any:
            k = torch.stack([x[:, a:b] for x in keys])
            v = torch.stack([x[:, a:b] for x in values]) if values else k.new_empty(0, *k.shape[1:])
            return k, v

        if not cache.has_instruction():
            cache.set_instruction(*states(0, L))
        for i, key in enumerate(group):
            a, b = structure.candidate_span(i)
            cache.put(key, *states(a, b))
        if on_pass is not None:
            on_pass(len(group))
    return len(todo)


class CachedQueryGraph:
    """A cached query pass captured in a CUDA graph, replayed with new token ids.

    Launch overhead dominates a pass of a few dozen query tokens through 20 layers (hundreds
    of small kernels); a CUDA graph replays them without it. The graph is bound to one
    pool view and one `QueryLayout`: use it while the view is held (inside
    [`pool`][ctx_core.incontext.states.DocumentStateCache.pool]) and for queries whose blocks
    have the layout's lengths.

    Args:
        engine: The engine (on a CUDA device).
        view: The pinned pool.
        layout: Query segment lengths and offsets.
        signal_rows: Indices of the signal tokens among the query tokens.
        layers: Scoring layers.
        warmup: Eager runs before capture (compiles the kernels, fills the allocator).
    """

    def __init__(
        self,
        engine: InContextEngine,
        view: PoolView,
        layout: QueryLayout,
        *,
        signal_rows: Sequence[int],
        layers: Sequence[int],
        warmup: int = 2,
    ) -> None:
        import torch

        device = engine.device
        if device.type != "cuda":
            raise ValueError("CUDA graphs need the model on a CUDA device")
        layer_set = sorted({int(x) for x in layers})
        rows = torch.as_tensor(list(signal_rows), dtype=torch.long, device=device)
        if not layer_set or rows.numel() == 0:
            raise ValueError("signal_rows and layers must not be empty")
        if int(rows.min()) < 0 or int(rows.max()) >= layout.total:
            raise ValueError("signal_rows must be token indices inside the query segments")
        self.layout = layout
        self.ids = torch.zeros(1, layout.total, dtype=torch.long, device=device)
        positions = layout.positions(device).reshape(1, -1)

        def make_run() -> _CachedRun:
            return _CachedRun(
                view=view,
                layout=layout,
                backend=engine.backend,
                signal_rows=rows,
                layers=frozenset(layer_set),
                stop_layer=layer_set[-1],
            )

        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.no_grad(), torch.cuda.stream(stream):
            for _ in range(max(1, warmup)):
                _forward_cached(engine, self.ids, positions, make_run())
        torch.cuda.current_stream(device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        run = make_run()
        with torch.no_grad(), torch.cuda.graph(self.graph):
            _forward_cached(engine, self.ids, positions, run)
        self._logmass = run.logmass
        # The graph reads these tensors on every replay: keep them alive (a freed one would
        # be reused by other allocations and replays would read garbage).
        self._inputs = (rows, positions, view, run)

    def __call__(self, input_ids: Sequence[int] | torch.Tensor) -> dict[int, torch.Tensor]:
        """Replay for ``input_ids`` (``layout.total`` tokens); log masses per scoring layer."""
        import torch

        ids = torch.as_tensor(input_ids, dtype=torch.long).reshape(1, -1)
        if ids.shape[1] != self.layout.total:
            raise ValueError(f"input_ids has {ids.shape[1]} tokens, the layout {self.layout.total}")
        self.ids.copy_(ids.to(self.ids.device))
        self.graph.replay()
        return {layer: t.clone() for layer, t in self._logmass.items()}
