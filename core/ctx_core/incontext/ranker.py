"""``InContextRanker``: a relevance scorer that reads an LLM's attention in one block-sparse pass.

Examples:
    >>> from ctx_core.incontext import InContextRanker
    >>> ranker = InContextRanker("smollm2")  # doctest: +SKIP
    >>> ranker.score("Who wrote Hamlet?", ["Hamlet is a play by Shakespeare.", "Bananas are yellow."])  # doctest: +SKIP
    [0.21, -0.03]
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ctx_core._registry import Configurable, lookup
from ctx_core.errors import ConfigError
from ctx_core.incontext.backends import AttentionBackend, backend_names
from ctx_core.incontext.fp8 import PRECISIONS
from ctx_core.incontext.layout import PromptBuilder, PromptTemplate, SignalChoice
from ctx_core.incontext.norm_mlp import check_fusion_options
from ctx_core.incontext.passes import plan_passes
from ctx_core.incontext.scoring import (
    LengthNormalization,
    PassLogmass,
    combine_passes,
    normalize_length,
    scores_from_logmass,
)
from ctx_core.models import DEFAULT_LLM, check_model_source, load_causal_lm
from ctx_core.scoring.base import BaseScorer
from ctx_core.types import Passage

__all__ = ["InContextRanker", "InContextScores"]

logger = logging.getLogger(__name__)


@dataclass
class InContextScores:
    """Scores of one query with everything that went into them.

    Attributes:
        scores: Final scores, one per passage in input order (what `score` returns).
        raw: Uncalibrated attention scores (softmax mass; they sum to 1).
        calibration: Scores the content-free query gave (``None`` without calibration).
        token_counts: Tokens in each candidate block.
        truncated: Whether each passage was cut to the block limit.
        layers: Scoring layers used.
        passes: Forward passes run.
        tokens: Tokens processed over all passes.
        seconds: Wall time of the forward passes.
        cpu_seconds: Process CPU time of the forward passes.
        logmass: ``(layers, H, S, N)`` log masses of the query block, on one scale.
        calibration_logmass: The same for the content-free block (or ``None``).
        token_mass: With ``explain(..., token_mass=True)``: per candidate, ``(H, n_tokens)``
            attention probabilities of the query block's signal tokens on its tokens (softmax
            over the whole visible sequence, summed over signal tokens and scoring layers),
            as the ICR paper aggregates; ``None`` otherwise.
        calibration_token_mass: The same for the content-free block (or ``None``).
    """

    scores: list[float]
    raw: list[float]
    calibration: list[float] | None
    token_counts: list[int]
    truncated: list[bool]
    layers: list[int]
    passes: int
    tokens: int
    seconds: float
    cpu_seconds: float
    logmass: Any = field(default=None, repr=False)
    calibration_logmass: Any = field(default=None, repr=False)
    token_mass: list[Any] | None = field(default=None, repr=False)
    calibration_token_mass: list[Any] | None = field(default=None, repr=False)


class InContextRanker(BaseScorer, Configurable):
    """Scores passages by the attention an LLM pays them in one block-sparse forward pass.

    The prompt holds an instruction with the query, every passage in its own block and a
    final query block (see [`ctx_core.incontext.layout`][ctx_core.incontext.layout]). Passages attend only to the
    instruction and themselves, so a hundred of them cost about a hundred short prompts, not
    one long one; the final block reads them all. At the scoring layer the attention of the
    final block's signal tokens to each passage's tokens is the relevance score; the forward
    pass stops there (see [`ctx_core.incontext.scoring`][ctx_core.incontext.scoring]).

    Args:
        model: Hugging Face id, local path, alias (``"smollm2"`` - the default -,
            ``"gemma3-270m"``), or a loaded ``*ForCausalLM`` (then pass ``tokenizer``).
            Families: Llama, Mistral, Qwen2, Qwen3, Gemma3.
        tokenizer: The tokenizer of a model passed as an object.
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` (default by device).
        backend: Attention backend: ``"auto"``, ``"sdpa"`` (exact, memory-efficient; the
            CPU default), ``"flex"``, ``"reference"`` (dense; short prompts), or an
            [`AttentionBackend`][ctx_core.incontext.backends.base.AttentionBackend].
        scoring_layer: 0-based layer(s) whose attention is read (several are averaged;
            negative counts from the end), or ``"all"`` (every layer: ICR's aggregation; the
            pass then runs the whole model). Default: about 60% depth
            ([`default_scoring_layer`][ctx_core.incontext.engine.default_scoring_layer]).
        heads: Query heads to average over (default: all).
        signal_tokens: ``"query"`` (default): the query's own tokens in the final block (as
            in ICR); or an int ``n``: the last ``n`` tokens of the block (the answer opening,
            as in BlockRank's fine-tuned scoring).
        calibrate: Subtract the scores of a content-free query (ICR calibration); it runs in
            the same pass as an extra final block that reuses all other work.
        length_normalization: ``"none"``, ``"length"`` or ``"sqrt"`` (divide by the block's
            token count or its square root).
        max_block_tokens: Token limit of a passage block (longer text is cut, with a
            warning).
        query_offset: Position id where the final block starts.
        template: Prompt wording ([`PromptTemplate`][ctx_core.incontext.layout.PromptTemplate], or a
            mapping of its fields).
        use_chat_template: Wrap the prompt in the model's chat template (default: when it
            has one).
        attention: ``"block"`` (block-sparse, the point of this ranker) or ``"causal"``
            (ordinary causal attention over the same prompt: the baseline it is compared
            with).
        labels: Id shown in each block: ``"index"`` (1, 2, ... in input order) or ``"id"``
            (the passage id, which makes scores exactly permutation-equivariant).
        max_pass_tokens: Token capacity of one pass; longer inputs are split into passes
            (see [`plan_passes`][ctx_core.incontext.passes.plan_passes]).
        max_pass_candidates: Candidate capacity of one pass (``None``: no limit).
        anchors: Candidates repeated in every pass when splitting.
        show_progress: Progress bar over passes and queries (``None``: for long jobs).
        compile: ``torch.compile`` the model's norms and MLP during passes (``True`` or a
            ``torch.compile`` backend name): faster long prompts on a GPU, same scores
            (see [`norm_mlp`][ctx_core.incontext.norm_mlp]).
        mlp_chunk_tokens: Apply the model's MLP over chunks of this many tokens during
            passes: bounded memory on long prompts, same scores (``None``: no chunks).
        precision: ``"model"`` (default: the model's dtype throughout) or ``"fp8"``: the
            q/k/v/o projections and gated MLPs run as FP8 (e4m3) products on GPUs with FP8
            tensor cores (compute capability 8.9 or newer; refused on CPU), norms,
            attention and scoring stay in the model's dtype; scores change by FP8 rounding
            (see [`ctx_core.incontext.fp8`][ctx_core.incontext.fp8]). A ``cache`` then holds FP8-run
            states, kept apart from model-precision ones.
        query_in_instruction: Put the query in the instruction (``True``, the default) or
            use the query-free instruction (``template.fixed_instruction``): the query then
            appears only in the final block, and each candidate's states are the same for
            every query, so they can be cached.
        cache: A [`DocumentStateCache`][ctx_core.incontext.states.DocumentStateCache] (needs
            ``query_in_instruction=False`` and block attention): candidates' states are
            computed once and reused; a query then runs only its own block through the
            layers (see [`ctx_core.incontext.cached`][ctx_core.incontext.cached]). Scores equal the uncached
            query-free ranker's (one pass) up to float rounding.

    Examples:
        >>> ranker = InContextRanker("smollm2", scoring_layer=18)  # doctest: +SKIP
        >>> details = ranker.explain("Who wrote Hamlet?", ["By Shakespeare.", "Bananas."])  # doctest: +SKIP
        >>> details.passes, len(details.scores)  # doctest: +SKIP
        (1, 2)
    """

    name = "incontext"

    def __init__(
        self,
        model: str | Any | None = None,
        *,
        tokenizer: Any = None,
        device: str | None = None,
        dtype: str | None = None,
        backend: str | AttentionBackend = "auto",
        scoring_layer: int | Sequence[int] | str | None = None,
        heads: Sequence[int] | None = None,
        signal_tokens: SignalChoice = "query",
        calibrate: bool = True,
        length_normalization: LengthNormalization = "none",
        max_block_tokens: int = 160,
        query_offset: int = 8192,
        template: PromptTemplate | Mapping[str, str] | None = None,
        use_chat_template: bool | None = None,
        attention: Literal["block", "causal"] = "block",
        labels: Literal["index", "id"] = "index",
        max_pass_tokens: int = 16384,
        max_pass_candidates: int | None = None,
        anchors: int = 2,
        show_progress: bool | None = None,
        compile: bool | str = False,
        mlp_chunk_tokens: int | None = None,
        query_in_instruction: bool = True,
        cache: Any = None,
        precision: Literal["model", "fp8"] = "model",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be 'model' or 'fp8', got {precision!r}")
        if precision == "fp8" and device is not None and str(device).split(":")[0] != "cuda":
            raise ValueError(
                f"precision='fp8' needs a CUDA GPU with FP8 tensor cores (compute capability "
                f"8.9 or newer: Ada, Hopper, Blackwell); device={device!r}"
            )
        if cache is not None:
            from ctx_core.incontext.states import DocumentStateCache

            if not isinstance(cache, DocumentStateCache):
                raise TypeError(f"cache must be a DocumentStateCache, got {type(cache).__name__}")
            if query_in_instruction:
                raise ValueError(
                    "cache needs query_in_instruction=False: with the query in the instruction "
                    "every candidate's states depend on the query"
                )
            if attention != "block":
                raise ValueError("cache needs attention='block'")
        if isinstance(model, str):
            check_model_source(model, "model")
        elif model is not None and tokenizer is None:
            raise ValueError("a model passed as an object needs its tokenizer (tokenizer=...)")
        if attention not in ("block", "causal"):
            raise ValueError(f"attention must be 'block' or 'causal', got {attention!r}")
        if labels not in ("index", "id"):
            raise ValueError(f"labels must be 'index' or 'id', got {labels!r}")
        if length_normalization not in ("none", "length", "sqrt"):
            raise ValueError(
                "length_normalization must be 'none', 'length' or 'sqrt', "
                f"got {length_normalization!r}"
            )
        if signal_tokens != "query" and (
            not isinstance(signal_tokens, int)
            or isinstance(signal_tokens, bool)
            or signal_tokens < 1
        ):
            raise ValueError(
                f"signal_tokens must be a positive int or 'query', got {signal_tokens!r}"
            )
        if max_pass_tokens < 64:
            raise ValueError(f"max_pass_tokens must be >= 64, got {max_pass_tokens}")
        if anchors < 0:
            raise ValueError(f"anchors must be >= 0, got {anchors}")
        if heads is not None and not list(heads):
            raise ValueError("heads must name at least one head (or be None for all)")
        check_fusion_options(compile, mlp_chunk_tokens)
        self._model_arg = model
        self._tokenizer_arg = tokenizer
        self.model_name = (
            model
            if isinstance(model, str)
            else (DEFAULT_LLM if model is None else type(model).__name__)
        )
        self.device = device
        self.dtype = dtype
        self.backend_choice = backend
        if isinstance(scoring_layer, str) and scoring_layer != "all":
            raise ValueError(
                f"scoring_layer must be an int, a list of ints or 'all', got {scoring_layer!r}"
            )
        self.scoring_layer = scoring_layer
        self.heads = list(heads) if heads is not None else None
        self.signal_tokens = signal_tokens
        self.calibrate = calibrate
        self.length_normalization = length_normalization
        self.max_block_tokens = max_block_tokens
        self.query_offset = query_offset
        self.template = (
            PromptTemplate(**template) if isinstance(template, Mapping) else template
        ) or PromptTemplate()
        self.use_chat_template = use_chat_template
        self.attention = attention
        self.labels = labels
        self.max_pass_tokens = max_pass_tokens
        self.max_pass_candidates = max_pass_candidates
        self.anchors = anchors
        self.show_progress = show_progress
        self.compile = compile
        self.mlp_chunk_tokens = mlp_chunk_tokens
        self.precision = precision
        self.query_in_instruction = bool(query_in_instruction)
        self.cache = cache
        self._cache_lock = threading.Lock()
        self._spec: Any = None
        self._lock = threading.Lock()
        self._engine: Any = None
        self._builder: PromptBuilder | None = None
        self._layers: list[int] = []

    def config(self) -> dict[str, Any]:
        """The model by id, path or alias, the backend by name, and the settings as given.

        The template appears only when it differs from the default wording. A ``cache`` is
        runtime state and is not part of the configuration.

        Raises:
            ConfigError: the model was passed as a loaded object, or the backend as an
                unregistered object.
        """
        if self._model_arg is not None and not isinstance(self._model_arg, str):
            raise ConfigError(
                f"InContextRanker holds a loaded {type(self._model_arg).__name__}; build it from "
                "a model id, path or alias (InContextRanker('smollm2')) to serialize it"
            )
        backend = self.backend_choice
        if isinstance(backend, AttentionBackend):
            if not _is_default_backend(backend):
                raise ConfigError(
                    f"attention backend {backend!r} is not a registered backend with its "
                    "default settings; pass the backend by name (backend='sdpa', ...) or "
                    "register it with register_backend to serialize the ranker"
                )
            backend = backend.name
        template = dataclasses.asdict(self.template)
        scoring_layer = self.scoring_layer
        return {
            "type": "InContextRanker",
            "model": self.model_name,
            "device": self.device,
            "dtype": self.dtype,
            "backend": backend,
            "scoring_layer": scoring_layer
            if scoring_layer is None or isinstance(scoring_layer, (int, str))
            else list(scoring_layer),
            "heads": self.heads,
            "signal_tokens": self.signal_tokens,
            "calibrate": self.calibrate,
            "length_normalization": self.length_normalization,
            "max_block_tokens": self.max_block_tokens,
            "query_offset": self.query_offset,
            "template": None if template == dataclasses.asdict(PromptTemplate()) else template,
            "use_chat_template": self.use_chat_template,
            "attention": self.attention,
            "labels": self.labels,
            "max_pass_tokens": self.max_pass_tokens,
            "max_pass_candidates": self.max_pass_candidates,
            "anchors": self.anchors,
            "compile": self.compile,
            "mlp_chunk_tokens": self.mlp_chunk_tokens,
            "precision": self.precision,
            "query_in_instruction": self.query_in_instruction,
            "show_progress": self.show_progress,
        }

    def __repr__(self) -> str:
        return (
            f"InContextRanker(model={self.model_name!r}, layers={self._layers or self.scoring_layer}, "
            f"attention={self.attention!r}, calibrate={self.calibrate})"
        )

    # -- loading ----------------------------------------------------------

    def _load(self) -> None:
        with self._lock:
            if self._engine is not None:
                return
            from ctx_core.incontext.engine import InContextEngine, default_scoring_layer

            if self._model_arg is None or isinstance(self._model_arg, str):
                model, tokenizer = load_causal_lm(self._model_arg, self.device, self.dtype)
            else:
                model, tokenizer = self._model_arg, self._tokenizer_arg
            engine = InContextEngine(
                model,
                backend=self.backend_choice,
                compile=self.compile,
                mlp_chunk_tokens=self.mlp_chunk_tokens,
                precision=self.precision,
            )
            n = engine.num_layers
            if self.scoring_layer is None:
                layers = [default_scoring_layer(model.config)]
            elif self.scoring_layer == "all":
                layers = list(range(n))
            else:
                requested: list[Any] = (
                    [self.scoring_layer]
                    if isinstance(self.scoring_layer, int)
                    else list(self.scoring_layer)
                )
                if not requested:
                    raise ValueError("scoring_layer must name at least one layer")
                layers = []
                for layer in requested:
                    if not -n <= int(layer) < n:
                        raise ValueError(f"scoring_layer {layer} out of range for {n} layers")
                    layers.append(int(layer) % n)
            max_positions = getattr(model.config, "max_position_embeddings", None)
            self._builder = PromptBuilder(
                tokenizer,
                template=self.template,
                max_block_tokens=self.max_block_tokens,
                use_chat_template=self.use_chat_template,
                query_offset=self.query_offset,
                max_positions=int(max_positions) if max_positions else None,
                query_in_instruction=self.query_in_instruction,
            )
            self._layers = sorted(set(layers))
            self._engine = engine
            logger.info("in-context ranker ready: %r, layers %s", engine, self._layers)

    @property
    def engine(self) -> Any:
        """The [`InContextEngine`][ctx_core.incontext.engine.InContextEngine] (loads the model)."""
        self._load()
        return self._engine

    @property
    def builder(self) -> PromptBuilder:
        """The [`PromptBuilder`][ctx_core.incontext.layout.PromptBuilder] (loads the tokenizer)."""
        self._load()
        assert self._builder is not None
        return self._builder

    @property
    def layers(self) -> list[int]:
        """The scoring layers (0-based), resolved once the model is loaded."""
        self._load()
        return list(self._layers)

    # -- scoring ----------------------------------------------------------

    def _score(self, query: str, passages: list[Passage]) -> list[float]:
        return self.explain(query, passages).scores

    def state_spec(self) -> Any:
        """The [`StateSpec`][ctx_core.incontext.states.StateSpec] of this ranker's cached states."""
        from ctx_core.incontext.states import StateSpec, model_fingerprint, template_fingerprint

        self._load()
        if self._spec is None:
            engine = self._engine
            config = engine.config
            heads = int(config.num_attention_heads)
            kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
            head_dim = int(getattr(config, "head_dim", None) or int(config.hidden_size) // heads)
            dtype = str(next(engine.model.parameters()).dtype).replace("torch.", "")
            self._spec = StateSpec(
                model=model_fingerprint(engine.model),
                template=template_fingerprint(
                    self.builder.instruction_ids(""), self.template.candidate
                ),
                layer=max(self._layers),
                dtype=dtype,
                max_block_tokens=self.max_block_tokens,
                kv_heads=kv_heads,
                head_dim=head_dim,
                precision=engine.precision,
            )
        return self._spec

    def index(self, passages: Sequence[Passage | str], *, show_progress: bool | None = None) -> int:
        """Compute and cache the states of ``passages`` (needs ``cache=``); returns how many were new.

        With ``labels="index"`` a passage's block shows its position in the list, so its
        states are reused only at the same position: prefer ``labels="id"`` with a cache.
        """
        from ctx_core.incontext.cached import encode_blocks
        from ctx_core.incontext.states import block_key
        from ctx_core.progress import progress
        from ctx_core.types import ensure_passages

        if self.cache is None:
            raise ValueError("index() needs a ranker built with cache=DocumentStateCache(...)")
        items = ensure_passages(passages)
        spec = self.state_spec()
        self.cache.bind(spec, self._engine.device)
        blocks = self._blocks(items)
        pairs = [(block_key(b.ids), b.ids) for b in blocks]
        missing = set(self.cache.missing(k for k, _ in pairs))
        bar = progress(
            iter(range(len(missing))),
            total=len(missing),
            desc="in-context states",
            show=show_progress if show_progress is not None else self.show_progress,
            unit="doc",
        )

        def advance(count: int) -> None:
            for _ in range(count):
                next(bar, None)

        with self._cache_lock:
            import torch

            with torch.no_grad():
                done = encode_blocks(
                    self._engine,
                    self.cache,
                    self.builder.instruction_ids(""),
                    pairs,
                    max_pass_tokens=self.max_pass_tokens,
                    on_pass=advance,
                )
        for _ in bar:
            pass
        return done

    def _blocks(self, items: Sequence[Passage]) -> list[Any]:
        labels = (
            [str(i + 1) for i in range(len(items))]
            if self.labels == "index"
            else [p.id for p in items]
        )
        return [
            self.builder.candidate_ids(label, p.text)
            for label, p in zip(labels, items, strict=True)
        ]

    def score_pool(
        self, queries: Sequence[str], passages: Sequence[Passage | str]
    ) -> list[list[float]]:
        """Scores of several queries over one pool (one cached pass with ``cache=``)."""
        return [d.scores for d in self.explain_pool(queries, passages)]

    def explain_pool(
        self, queries: Sequence[str], passages: Sequence[Passage | str]
    ) -> list[InContextScores]:
        """`explain` for several queries over the same passages.

        With a ``cache`` all queries run in one pass over the cached pool, as separate
        query segments (the calibration block, the same for every query, runs once); the
        scores equal those of one query at a time. Without a cache, one query at a time.
        """
        from ctx_core.types import ensure_passages, validate_query

        if isinstance(queries, str):
            raise TypeError("queries must be a sequence of strings, not one string")
        checked = [validate_query(q) for q in queries]
        if not checked:
            raise ValueError("queries must not be empty")
        items = ensure_passages(passages)
        if not items:
            raise ValueError("passages must not be empty")
        if self.cache is None:
            return [self.explain(q, items) for q in checked]
        return self._explain_cached(checked, items)

    def _explain_cached(self, queries: list[str], items: list[Passage]) -> list[InContextScores]:
        import torch

        from ctx_core.incontext.cached import QueryLayout, encode_blocks, run_cached
        from ctx_core.incontext.states import block_key

        assert self.cache is not None
        spec = self.state_spec()
        builder, engine = self.builder, self._engine
        self.cache.bind(spec, engine.device)
        blocks = self._blocks(items)
        truncated = [b.truncated for b in blocks]
        if any(truncated):
            cut = [p.id for p, t in zip(items, truncated, strict=True) if t]
            logger.warning(
                "%d passage(s) cut to max_block_tokens=%d: ids %s",
                len(cut),
                self.max_block_tokens,
                ", ".join(cut[:20]) + (" ..." if len(cut) > 20 else ""),
            )
        keys = [block_key(b.ids) for b in blocks]
        lengths = [len(b.ids) for b in blocks]
        instruction = builder.instruction_ids("")
        L = len(instruction)
        # One query segment per query; the calibration block is the same for every query
        # with the same position offset, so it runs once per distinct offset.
        segments: list[tuple[list[int], tuple[int, int], int]] = []
        query_segment: list[int] = []
        calib_segment: list[int] = []
        calib_ids, calib_span = builder.query_block_ids(self.template.calibration_query)
        calib_at: dict[int, int] = {}
        for q in queries:
            ids, span = builder.query_block_ids(q)
            longest = max(len(ids), len(calib_ids)) if self.calibrate else len(ids)
            offset = builder._offset(L, longest)
            query_segment.append(len(segments))
            segments.append((ids, span, offset))
            if self.calibrate:
                if offset not in calib_at:
                    calib_at[offset] = -1  # placed after the queries
                calib_segment.append(offset)
        if self.calibrate:
            for offset in calib_at:
                calib_at[offset] = len(segments)
                segments.append((calib_ids, calib_span, offset))
        layout = QueryLayout(
            tuple(len(ids) for ids, _, _ in segments), tuple(o for _, _, o in segments)
        )
        rows: list[int] = []
        row_ranges: list[tuple[int, int]] = []
        for j, (_, (a, b), _) in enumerate(segments):
            start, stop = layout.span(j)
            if self.signal_tokens == "query":
                chosen = list(range(start + a, start + b))
            else:
                assert isinstance(self.signal_tokens, int)
                chosen = list(range(max(start, stop - self.signal_tokens), stop))
            row_ranges.append((len(rows), len(rows) + len(chosen)))
            rows.extend(chosen)
        input_ids = [t for ids, _, _ in segments for t in ids]
        wall, cpu = time.perf_counter(), time.process_time()
        with self._cache_lock, torch.no_grad():
            encoded = encode_blocks(
                engine,
                self.cache,
                instruction,
                list(zip(keys, [b.ids for b in blocks], strict=True)),
                max_pass_tokens=self.max_pass_tokens,
            )
            with self.cache.pool(keys) as view:
                logmass = run_cached(
                    engine, view, layout, input_ids, signal_rows=rows, layers=self._layers
                )
                stacked = torch.stack([logmass[layer] for layer in self._layers])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        tokens = layout.total + (L + sum(lengths) if encoded else 0)
        results = []
        for i, q in enumerate(queries):
            del q
            a, b = row_ranges[query_segment[i]]
            q_logmass = stacked[:, :, a:b]
            raw = scores_from_logmass(q_logmass, self.heads)
            final = raw
            calibration = None
            c_logmass = None
            if self.calibrate:
                ca, cb = row_ranges[calib_at[calib_segment[i]]]
                c_logmass = stacked[:, :, ca:cb]
                calibration = scores_from_logmass(c_logmass, self.heads)
                final = raw - calibration
            final = normalize_length(final, lengths, self.length_normalization)
            results.append(
                InContextScores(
                    scores=[float(x) for x in final],
                    raw=[float(x) for x in raw],
                    calibration=None if calibration is None else [float(x) for x in calibration],
                    token_counts=lengths,
                    truncated=truncated,
                    layers=list(self._layers),
                    passes=1,
                    tokens=tokens,
                    seconds=wall,
                    cpu_seconds=cpu,
                    logmass=q_logmass,
                    calibration_logmass=c_logmass,
                )
            )
        return results

    def explain(
        self, query: str, passages: Sequence[Passage | str], *, token_mass: bool = False
    ) -> InContextScores:
        """Score ``passages`` and return the scores with their parts (raw, calibration, ...).

        Args:
            query: The query.
            passages: The candidates.
            token_mass: Also return each candidate's per-token attention probabilities
                (``InContextScores.token_mass``), for ICR-style scoring; needs all candidates
                in one pass.
        """
        import torch

        from ctx_core.progress import progress
        from ctx_core.types import ensure_passages, validate_query

        query = validate_query(query)
        items = ensure_passages(passages)
        if not items:
            raise ValueError("passages must not be empty")
        if self.cache is not None:
            if token_mass:
                raise ValueError("token_mass is not available with a state cache (cache=)")
            self._load()
            return self._explain_cached([query], items)[0]
        self._load()
        builder = self.builder
        engine = self._engine
        texts = [p.text for p in items]
        labels = (
            [str(i + 1) for i in range(len(items))]
            if self.labels == "index"
            else [p.id for p in items]
        )
        blocks = [
            builder.candidate_ids(label, text) for label, text in zip(labels, texts, strict=True)
        ]
        lengths = [len(b.ids) for b in blocks]
        overhead = len(builder.instruction_ids(query)) + len(builder.query_block_ids(query)[0])
        if self.calibrate:
            overhead += len(builder.query_block_ids(self.template.calibration_query)[0])
        capacity = self.max_pass_tokens
        if self.attention == "causal":
            limit = getattr(engine.config, "max_position_embeddings", None)
            if limit:
                capacity = min(capacity, int(limit))
        groups, anchor_ids = plan_passes(
            lengths,
            capacity - overhead,
            max_candidates=self.max_pass_candidates,
            anchors=self.anchors,
        )
        query_passes: list[PassLogmass] = []
        calib_passes: list[PassLogmass] = []
        truncated = [False] * len(items)
        if token_mass and len(groups) > 1:
            raise ValueError(
                f"token_mass needs all {len(items)} candidates in one pass, but they take "
                f"{len(groups)}; raise max_pass_tokens / max_pass_candidates"
            )
        query_tokens: list[Any] | None = None
        calib_tokens: list[Any] | None = None
        tokens = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for group in progress(
            groups, desc="in-context passes", show=self.show_progress and len(groups) > 1
        ):
            prompt = builder.build(
                query,
                [texts[i] for i in group],
                [labels[i] for i in group],
                calibrate=self.calibrate,
                causal=self.attention == "causal",
            )
            for i, cut in zip(group, prompt.truncated, strict=True):
                truncated[i] = cut
            rows = prompt.signal_rows(self.signal_tokens, 0)
            n_signal = len(rows)
            if self.calibrate:
                rows = rows + prompt.signal_rows(self.signal_tokens, 1)
            with torch.no_grad():
                out = engine.run(
                    prompt.input_ids,
                    prompt.structure,
                    signal_rows=rows,
                    layers=self._layers,
                    token_mass=token_mass,
                )
            stacked = torch.stack([out.logmass[layer] for layer in self._layers])
            if out.token_mass is not None:
                # (H, S, Tc) per layer -> summed over layers, then over each block's rows
                summed = sum(out.token_mass[layer] for layer in self._layers)
                spans = [prompt.structure.candidate_span(i) for i in range(len(group))]
                first = spans[0][0]
                query_tokens = _split_tokens(summed[:, :n_signal].sum(1), spans, first, group)
                if self.calibrate:
                    calib_tokens = _split_tokens(summed[:, n_signal:].sum(1), spans, first, group)
            query_passes.append(PassLogmass(group, stacked[:, :, :n_signal]))
            if self.calibrate:
                calib_passes.append(PassLogmass(group, stacked[:, :, n_signal:]))
            tokens += prompt.structure.total_length
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        logmass = combine_passes(query_passes, len(items), anchor_ids)
        raw = scores_from_logmass(logmass, self.heads)
        final = raw
        calibration = None
        calib_logmass = None
        if self.calibrate:
            calib_logmass = combine_passes(calib_passes, len(items), anchor_ids)
            calibration = scores_from_logmass(calib_logmass, self.heads)
            final = raw - calibration
        final = normalize_length(final, lengths, self.length_normalization)
        return InContextScores(
            scores=[float(x) for x in final],
            raw=[float(x) for x in raw],
            calibration=None if calibration is None else [float(x) for x in calibration],
            token_counts=lengths,
            truncated=truncated,
            layers=list(self._layers),
            passes=len(groups),
            tokens=tokens,
            seconds=wall,
            cpu_seconds=cpu,
            logmass=logmass,
            calibration_logmass=calib_logmass,
            token_mass=query_tokens,
            calibration_token_mass=calib_tokens,
        )


def _split_tokens(
    mass: Any, spans: Sequence[tuple[int, int]], first: int, group: Sequence[int]
) -> list[Any]:
    # ``mass`` is (H, Tc) over the candidate tokens in prompt order; candidate blocks are
    # contiguous, so token t of the prompt is column t - first. The pass holds the
    # candidates ``group`` in its own order: put each back at its input index.
    out: list[Any] = [None] * len(group)
    for (a, b), index in zip(spans, group, strict=True):
        out[index] = mass[:, a - first : b - first]
    return out


def _is_default_backend(backend: AttentionBackend) -> bool:
    # Only then does its registered name rebuild the same backend.
    if backend.name not in backend_names():
        return False
    default = lookup("backend", backend.name)()
    return type(default) is type(backend) and vars(default) == vars(backend)
