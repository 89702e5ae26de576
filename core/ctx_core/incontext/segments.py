"""Segments, position ids and the attention rule of the in-context ranker.

A ranking prompt is one token sequence cut into *segments*:

* one **instruction** segment (it holds the query), first;
* one **candidate** segment per passage;
* one or more **query** segments at the end: the final block that repeats the query and
  ends with the signal tokens, and optionally a content-free twin of it used for
  calibration. Query segments are alternatives: they never see each other.

Who attends to whom (``allowed(q, k)`` for query token ``q`` and key token ``k``):

=================  ===============================  ==================================
``q`` is in        block-sparse mode (default)      ``causal=True`` (ordinary prompt)
=================  ===============================  ==================================
instruction        causal within the instruction    same
candidate ``i``    instruction + causal within      everything before it (causal)
                   ``i``
query block        instruction + all candidates +   same
                   causal within itself
=================  ===============================  ==================================

Position ids: the instruction has ``0 .. L-1``; every candidate restarts at ``L`` (so a
candidate's states do not depend on where it sits in the list); every query block starts at
``query_offset``. With ``causal=True`` positions are the ordinary ``0 .. T-1`` and each query
block continues right after the last candidate.

A sliding window (Gemma3's local layers, Mistral) is measured in **position ids**: ``k`` is
visible from ``q`` only when ``pos[q] - pos[k] < window``, as the model saw it in training.

Examples:
    >>> s = SegmentStructure(instruction_length=3, candidate_lengths=(2, 1), query_lengths=(2,),
    ...                      query_offset=100)
    >>> s.position_ids().tolist()
    [0, 1, 2, 3, 4, 3, 100, 101]
    >>> s.dense_mask().int().tolist()[5]  # the 2nd candidate sees the instruction and itself
    [1, 1, 1, 0, 0, 1, 0, 0]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["SegmentKind", "SegmentStructure", "attention_rule"]


class SegmentKind(IntEnum):
    """What a segment is: the instruction, a candidate or a query block."""

    INSTRUCTION = 0
    CANDIDATE = 1
    QUERY = 2


def attention_rule(
    seg_q: Any,
    seg_k: Any,
    kind_q: Any,
    kind_k: Any,
    idx_q: Any,
    idx_k: Any,
    pos_q: Any,
    pos_k: Any,
    *,
    causal: bool,
    window: int | None,
) -> Any:
    """The ranker's attention rule on broadcastable tensors (token index, segment, kind, position).

    This single function is the semantics: the dense reference mask, the FlexAttention
    ``mask_mod`` and the tests all evaluate it; faster backends must agree with it.
    """
    same_segment = seg_q == seg_k
    allowed = same_segment & (idx_k <= idx_q)
    candidate_q = kind_q == int(SegmentKind.CANDIDATE)
    query_q = kind_q == int(SegmentKind.QUERY)
    instruction_k = kind_k == int(SegmentKind.INSTRUCTION)
    candidate_k = kind_k == int(SegmentKind.CANDIDATE)
    allowed = allowed | (candidate_q & instruction_k) | (query_q & (instruction_k | candidate_k))
    if causal:
        allowed = allowed | (candidate_q & candidate_k & (idx_k < idx_q))
    if window is not None:
        allowed = allowed & ((pos_q - pos_k) < window)
    return allowed


@dataclass(frozen=True)
class SegmentStructure:
    """Lengths of the instruction, candidate and query segments of one prompt.

    Args:
        instruction_length: Tokens in the instruction segment (>= 1).
        candidate_lengths: Tokens in each candidate segment (each >= 1).
        query_lengths: Tokens in each query segment (each >= 1): the final block and, for
            calibration, its content-free twin.
        query_offset: Position id of the first token of every query segment (block-sparse
            mode). Must not be below ``instruction_length``.
        causal: Ordinary causal attention and sequential positions instead of the
            block-sparse pattern (the baseline the ranker is compared with).

    Examples:
        >>> s = SegmentStructure(4, (3, 2), (2,), query_offset=64)
        >>> s.total_length, s.num_candidates, s.candidate_span(1)
        (11, 2, (7, 9))
    """

    instruction_length: int
    candidate_lengths: tuple[int, ...]
    query_lengths: tuple[int, ...]
    query_offset: int = 8192
    causal: bool = False
    _cache: dict[Any, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidate_lengths", tuple(int(n) for n in self.candidate_lengths))
        object.__setattr__(self, "query_lengths", tuple(int(n) for n in self.query_lengths))
        if self.instruction_length < 1:
            raise ValueError(f"instruction_length must be >= 1, got {self.instruction_length}")
        if not self.query_lengths:
            raise ValueError("query_lengths must name at least one query segment")
        for name, lengths in (
            ("candidate_lengths", self.candidate_lengths),
            ("query_lengths", self.query_lengths),
        ):
            if any(n < 1 for n in lengths):
                raise ValueError(f"{name} must all be >= 1, got {list(lengths)}")
        if not self.causal and self.query_offset < self.instruction_length:
            raise ValueError(
                f"query_offset ({self.query_offset}) must be >= instruction_length "
                f"({self.instruction_length})"
            )

    # -- sizes and spans ---------------------------------------------------

    @property
    def num_candidates(self) -> int:
        """How many candidate segments."""
        return len(self.candidate_lengths)

    @property
    def num_segments(self) -> int:
        """Instruction + candidates + query segments."""
        return 1 + len(self.candidate_lengths) + len(self.query_lengths)

    @property
    def prefix_length(self) -> int:
        """Tokens before the first query segment (instruction + candidates)."""
        return self.instruction_length + sum(self.candidate_lengths)

    @property
    def total_length(self) -> int:
        """Tokens in the whole sequence."""
        return self.prefix_length + sum(self.query_lengths)

    @functools.cached_property
    def segment_starts(self) -> tuple[int, ...]:
        """Token index where each segment starts (instruction, candidates, queries), plus the end."""
        starts = [0]
        for n in (self.instruction_length, *self.candidate_lengths, *self.query_lengths):
            starts.append(starts[-1] + n)
        return tuple(starts)

    def candidate_span(self, i: int) -> tuple[int, int]:
        """``(start, stop)`` token indices of candidate ``i``."""
        if not 0 <= i < self.num_candidates:
            raise IndexError(f"candidate {i} out of range (0..{self.num_candidates - 1})")
        return self.segment_starts[1 + i], self.segment_starts[2 + i]

    def query_span(self, j: int) -> tuple[int, int]:
        """``(start, stop)`` token indices of query segment ``j``."""
        if not 0 <= j < len(self.query_lengths):
            raise IndexError(f"query segment {j} out of range (0..{len(self.query_lengths) - 1})")
        first = 1 + self.num_candidates + j
        return self.segment_starts[first], self.segment_starts[first + 1]

    def query_start_position(self) -> int:
        """Position id of the first token of every query segment."""
        return self.prefix_length if self.causal else self.query_offset

    def positions_list(self) -> list[int]:
        """Position id of every token, as a Python list."""
        L = self.instruction_length
        positions = list(range(L))
        if self.causal:
            positions.extend(range(L, self.prefix_length))
        else:
            for n in self.candidate_lengths:
                positions.extend(range(L, L + n))
        start = self.query_start_position()
        for n in self.query_lengths:
            positions.extend(range(start, start + n))
        return positions

    def max_position(self) -> int:
        """The largest position id in the sequence."""
        return self.query_start_position() + max(self.query_lengths) - 1

    def with_causal(self, causal: bool) -> SegmentStructure:
        """The same segments under the other attention pattern."""
        return SegmentStructure(
            self.instruction_length,
            self.candidate_lengths,
            self.query_lengths,
            query_offset=self.query_offset,
            causal=causal,
        )

    # -- tensors (cached per device) --------------------------------------

    def _tensor(self, name: str, device: Any) -> torch.Tensor:
        import torch

        key = (name, str(device))
        if key not in self._cache:
            if name == "position_ids":
                value = torch.tensor(self.positions_list(), dtype=torch.long)
            elif name == "segment_ids":
                lengths = torch.tensor(
                    [self.instruction_length, *self.candidate_lengths, *self.query_lengths]
                )
                value = torch.repeat_interleave(torch.arange(self.num_segments), lengths)
            elif name == "kinds":
                kinds = [int(SegmentKind.INSTRUCTION)]
                kinds += [int(SegmentKind.CANDIDATE)] * self.num_candidates
                kinds += [int(SegmentKind.QUERY)] * len(self.query_lengths)
                value = torch.tensor(kinds)[self._tensor("segment_ids", "cpu")]
            elif name == "candidate_token_index":
                value = torch.arange(self.instruction_length, self.prefix_length)
            elif name == "candidate_of_token":
                value = torch.repeat_interleave(
                    torch.arange(self.num_candidates), torch.tensor(self.candidate_lengths)
                )
            else:  # pragma: no cover - internal names only
                raise KeyError(name)
            self._cache[key] = value.to(device)
        return self._cache[key]

    def position_ids(self, device: Any = "cpu") -> torch.Tensor:
        """Position id of every token, shape ``(T,)``."""
        return self._tensor("position_ids", device)

    def segment_ids(self, device: Any = "cpu") -> torch.Tensor:
        """Segment number of every token (0 = instruction, then candidates, then query blocks)."""
        return self._tensor("segment_ids", device)

    def kinds(self, device: Any = "cpu") -> torch.Tensor:
        """[`SegmentKind`][ctx_core.incontext.segments.SegmentKind] of every token, shape ``(T,)``."""
        return self._tensor("kinds", device)

    def candidate_token_index(self, device: Any = "cpu") -> torch.Tensor:
        """Token indices of all candidate tokens, in order, shape ``(Tc,)``."""
        return self._tensor("candidate_token_index", device)

    def candidate_of_token(self, device: Any = "cpu") -> torch.Tensor:
        """For each candidate token (same order), the candidate it belongs to, shape ``(Tc,)``."""
        return self._tensor("candidate_of_token", device)

    def cached(self, key: Any, build: Any) -> Any:
        """Memoize a derived object (e.g. a backend's block mask) on this structure."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def dense_mask(
        self, window: int | None = None, device: Any = "cpu", rows: Sequence[int] | None = None
    ) -> torch.Tensor:
        """The boolean ``(T, T)`` mask of [`attention_rule`][ctx_core.incontext.segments.attention_rule] (``True`` = may attend).

        Args:
            window: Sliding window in position ids (``None``: none).
            device: Where to build it.
            rows: Only these query rows (default: all).

        Quadratic in the sequence length: meant for the reference backend and tests.
        """
        import torch

        T = self.total_length
        idx = torch.arange(T, device=device)
        q_idx = idx if rows is None else torch.as_tensor(list(rows), device=device)
        seg, kind, pos = (
            self.segment_ids(device),
            self.kinds(device),
            self.position_ids(device),
        )
        return attention_rule(
            seg[q_idx, None],
            seg[None, :],
            kind[q_idx, None],
            kind[None, :],
            q_idx[:, None],
            idx[None, :],
            pos[q_idx, None],
            pos[None, :],
            causal=self.causal,
            window=window,
        )
