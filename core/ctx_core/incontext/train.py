"""Fine-tuning a decoder for in-context ranking (BlockRank-style objective).

For one training list (a query, its candidate passages, which of them are relevant) the
prompt is the ranker's own block-sparse layout ([`ctx_core.incontext.layout`][ctx_core.incontext.layout]), followed
by the answer: the id of one relevant passage and the closing bracket. One forward pass of
[`InContextEngine`][ctx_core.incontext.engine.InContextEngine] (the same block-sparse attention as at
inference, through the chosen backend) gives both parts of the loss:

``loss = next-token loss on the answer + aux_weight x contrastive loss``

* **next-token loss**: cross-entropy of the answer tokens (teacher forcing, logits of the
  answer rows only);
* **contrastive loss** on the scoring layer's relevance scores: ``r_c`` is the ranker's
  score of candidate ``c`` (the signal rows' attention mass on its tokens, soft-maxed over
  candidate tokens, averaged over heads and signal rows; see
  [`ctx_core.incontext.scoring`][ctx_core.incontext.scoring]), and with positives ``P``

  ``L_aux = -log( sum_{p in P} exp(r_p / t) / sum_c exp(r_c / t) )``

  with temperature ``t`` (default 0.05); several positives share the numerator.

Because the signal rows come before the answer and attention is causal, the scores seen in
training are exactly those the ranker computes at inference. Candidates are shuffled for
every step (ids follow block order), so the model cannot learn positions.

Examples:
    >>> import torch
    >>> scores = torch.tensor([0.7, 0.2, 0.1])
    >>> round(float(contrastive_loss(scores, [0], temperature=0.05)), 4)
    0.0001
    >>> float(contrastive_loss(scores, [1, 2], temperature=0.05)) > 9
    True
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ctx_core.incontext.layout import PromptBuilder, PromptTemplate, SignalChoice
from ctx_core.incontext.segments import SegmentStructure

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.backends import AttentionBackend
    from ctx_core.incontext.engine import InContextEngine

__all__ = [
    "StepResult",
    "TrainConfig",
    "TrainingExample",
    "contrastive_loss",
    "fine_tune",
    "ranking_loss",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingExample:
    """One training list.

    Attributes:
        query: The search query.
        passages: Candidate passage texts.
        positives: Indices (into ``passages``) of the relevant ones (at least one).
    """

    query: str
    passages: tuple[str, ...]
    positives: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "passages", tuple(self.passages))
        object.__setattr__(self, "positives", tuple(int(i) for i in self.positives))
        if not self.query.strip():
            raise ValueError("query must not be empty")
        if not self.positives:
            raise ValueError("positives must name at least one passage")
        if any(not 0 <= i < len(self.passages) for i in self.positives):
            raise ValueError(f"positives {list(self.positives)} out of range")


@dataclass
class TrainConfig:
    """Hyper-parameters of [`fine_tune`][ctx_core.incontext.train.fine_tune].

    Attributes:
        steps: Optimizer steps (one training list each).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        aux_weight: Weight of the contrastive loss (0.1 in BlockRank).
        temperature: Temperature of the contrastive loss.
        max_candidates: Passages per training list: up to half of them positives (at
            least one), the rest sampled negatives.
        max_block_tokens: Token limit of a passage block.
        scoring_layer: Layer whose attention is scored (default: the ranker's default).
        signal_tokens: The ranker's signal tokens (last ``n`` of the final block, or
            ``"query"``).
        grad_clip: Gradient norm clip (``None``: none).
        warmup_steps: Linear learning-rate warm-up.
        train_embeddings: Also train the (often tied) embeddings.
        seed: Random seed (shuffling, sampling).
        log_every: Log a line every this many steps.
    """

    steps: int = 200
    lr: float = 2e-5
    weight_decay: float = 0.0
    aux_weight: float = 0.1
    temperature: float = 0.05
    max_candidates: int = 10
    max_block_tokens: int = 160
    scoring_layer: int | None = None
    signal_tokens: SignalChoice = 1
    grad_clip: float | None = 1.0
    warmup_steps: int = 10
    train_embeddings: bool = False
    seed: int = 0
    log_every: int = 10


@dataclass
class StepResult:
    """Losses and ranking of one training step.

    Attributes:
        step: Step number (0-based).
        loss: Total loss.
        lm_loss: Next-token loss on the answer.
        aux_loss: Contrastive loss on the scores.
        positive_rank: Best rank (0 = top) of a positive by the scores, before the update.
        tokens: Prompt length.
        seconds: Wall time of the step.
    """

    step: int
    loss: float
    lm_loss: float
    aux_loss: float
    positive_rank: int
    tokens: int
    seconds: float


@dataclass
class TrainResult:
    """What [`fine_tune`][ctx_core.incontext.train.fine_tune] returns.

    Attributes:
        history: One [`StepResult`][ctx_core.incontext.train.StepResult] per step.
        config: The configuration used.
        layer: The scoring layer.
        seconds: Total wall time.
    """

    history: list[StepResult] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    layer: int = 0
    seconds: float = 0.0


def contrastive_loss(
    scores: torch.Tensor, positives: Sequence[int], *, temperature: float = 0.05
) -> torch.Tensor:
    """Multi-positive InfoNCE over candidates: ``-log sum_P softmax(scores / t)``."""
    import torch

    if not positives:
        raise ValueError("positives must not be empty")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = scores / temperature
    index = torch.tensor(list(positives), device=scores.device)
    return torch.logsumexp(logits, -1) - torch.logsumexp(logits.index_select(-1, index), -1)


def _scores(logmass: torch.Tensor) -> torch.Tensor:
    """The ranker's scores from ``(H, S, N)`` log masses, differentiably."""
    import torch

    return torch.softmax(logmass.float(), dim=-1).mean(dim=(0, 1))


def ranking_loss(
    engine: InContextEngine,
    builder: PromptBuilder,
    example: TrainingExample,
    *,
    layer: int,
    config: TrainConfig,
    rng: random.Random,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The training loss of one list (shuffled, sub-sampled), and its parts."""
    import torch

    n = len(example.passages)
    positives = list(example.positives)
    negatives = [i for i in range(n) if i not in set(positives)]
    # At most half the list is positive (at least one), the rest sampled negatives.
    keep_pos = rng.sample(positives, min(len(positives), max(1, config.max_candidates // 2)))
    rng.shuffle(negatives)
    chosen = keep_pos + negatives[: max(0, config.max_candidates - len(keep_pos))]
    rng.shuffle(chosen)
    texts = [example.passages[i] for i in chosen]
    pos_slots = [j for j, i in enumerate(chosen) if i in set(keep_pos)]
    answer_slot = rng.choice(pos_slots)
    prompt = builder.build(example.query, texts)
    signal = prompt.signal_rows(config.signal_tokens, 0)
    answer_ids = list(
        builder.tokenizer.encode(prompt.labels[answer_slot] + "]", add_special_tokens=False)
    )
    structure = prompt.structure
    extended = SegmentStructure(
        structure.instruction_length,
        structure.candidate_lengths,
        (structure.query_lengths[0] + len(answer_ids),),
        query_offset=structure.query_offset,
    )
    ids = list(prompt.input_ids) + answer_ids
    stop = structure.total_length  # first answer token
    logit_rows = list(range(stop - 1, stop - 1 + len(answer_ids)))
    out = engine.run(
        ids, extended, signal_rows=signal, layers=[layer], stop=False, logits_rows=logit_rows
    )
    target = torch.tensor(answer_ids, device=out.logits.device)
    lm_loss = torch.nn.functional.cross_entropy(out.logits.float(), target)
    scores = _scores(out.logmass[layer])
    aux = contrastive_loss(scores, pos_slots, temperature=config.temperature)
    loss = lm_loss + config.aux_weight * aux
    order = torch.argsort(scores.detach(), descending=True).tolist()
    rank = min(order.index(j) for j in pos_slots)
    return loss, {
        "lm_loss": float(lm_loss.detach()),
        "aux_loss": float(aux.detach()),
        "positive_rank": rank,
        "tokens": extended.total_length,
    }


def fine_tune(
    model: Any,
    tokenizer: Any,
    examples: Sequence[TrainingExample],
    config: TrainConfig | None = None,
    *,
    backend: str | AttentionBackend = "auto",
    template: PromptTemplate | None = None,
    callback: Callable[[StepResult], None] | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place on ranking lists; returns the per-step history.

    Args:
        model: A Hugging Face ``*ForCausalLM`` of a family the engine supports.
        tokenizer: Its tokenizer.
        examples: Training lists (sampled with replacement, one per step).
        config: Hyper-parameters ([`TrainConfig`][ctx_core.incontext.train.TrainConfig]).
        backend: Attention backend of the engine (``"auto"``: ``triton`` on CUDA, whose
            backward pass recomputes through ``sdpa``; ``sdpa`` on CPU).
        template: Prompt wording (must match the one the ranker will use).
        callback: Called after every step with its [`StepResult`][ctx_core.incontext.train.StepResult].

    Examples:
        >>> result = fine_tune(model, tokenizer, examples, TrainConfig(steps=100))  # doctest: +SKIP
        >>> result.history[-1].aux_loss < result.history[0].aux_loss  # doctest: +SKIP
        True
    """
    import torch

    from ctx_core.incontext.engine import InContextEngine, default_scoring_layer

    config = config or TrainConfig()
    if not examples:
        raise ValueError("examples must not be empty")
    if config.steps < 1:
        raise ValueError(f"steps must be >= 1, got {config.steps}")
    engine = InContextEngine(model, backend=backend)
    layer = config.scoring_layer
    if layer is None:
        layer = default_scoring_layer(model.config)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    builder = PromptBuilder(
        tokenizer,
        template=template or PromptTemplate(),
        max_block_tokens=config.max_block_tokens,
        max_positions=int(max_positions) if max_positions else None,
    )
    embeddings = {id(p) for p in model.get_input_embeddings().parameters()}
    params = [
        p
        for p in model.parameters()
        if p.requires_grad and (config.train_embeddings or id(p) not in embeddings)
    ]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(1, config.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup)
    )
    rng = random.Random(config.seed)
    result = TrainResult(config=asdict(config), layer=layer)
    was_training = model.training
    model.train()
    start = time.perf_counter()
    try:
        for step in range(config.steps):
            t = time.perf_counter()
            example = examples[rng.randrange(len(examples))]
            loss, parts = ranking_loss(
                engine, builder, example, layer=layer, config=config, rng=rng
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            scheduler.step()
            record = StepResult(
                step=step,
                loss=float(loss.detach()),
                seconds=time.perf_counter() - t,
                **parts,
            )
            if not math.isfinite(record.loss):
                raise FloatingPointError(f"loss is {record.loss} at step {step}")
            result.history.append(record)
            if callback is not None:
                callback(record)
            if config.log_every and (step + 1) % config.log_every == 0:
                recent = result.history[-config.log_every :]
                logger.info(
                    "step %d: loss %.4f lm %.4f aux %.4f positive rank %.2f",
                    step + 1,
                    sum(r.loss for r in recent) / len(recent),
                    sum(r.lm_loss for r in recent) / len(recent),
                    sum(r.aux_loss for r in recent) / len(recent),
                    sum(r.positive_rank for r in recent) / len(recent),
                )
    finally:
        model.train(was_training)
    result.seconds = time.perf_counter() - start
    return result
