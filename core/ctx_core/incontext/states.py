"""Per-document key/value states of the in-context ranker, computed once and reused.

In the block-sparse layout a candidate attends only to the instruction and to itself, and
every candidate starts at the same position id. With the query-free instruction
(``query_in_instruction=False``) a candidate's keys and values therefore depend only on the
model, the template, the candidate block's tokens and the layer: they are the same for every
query and every pool it appears in. `DocumentStateCache` keeps them, so a query only
runs its own block's tokens through the layers (see [`ctx_core.incontext.cached`][ctx_core.incontext.cached]).

What is kept per candidate: the keys of layers ``0 .. S`` and the values of layers
``0 .. S-1``, where ``S`` is the deepest scoring layer (the query block reads keys and values
below ``S``, and at ``S`` only the candidates' keys, for the scores). The instruction's
states are kept once.

Storage: the states live in one preallocated *arena* per tensor kind on the model's device
(``(S+1, H_kv, slots x B, D)`` keys, ``(S, H_kv, slots x B, D)`` values, ``B`` =
``max_block_tokens``): each candidate takes one slot of ``B`` tokens, the instruction the
first slots. Attention kernels read a pool straight from the arena through a list of token
spans, without copying it. The arena is capped by ``max_bytes``; the least recently used
candidates are evicted (to the optional CPU tier, ``cpu_bytes``, in pinned memory when the
arena is on a GPU).

Examples:
    >>> cache = DocumentStateCache(max_bytes=2**30)
    >>> cache.stats()["entries"]
    0
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.segments import SegmentStructure

__all__ = [
    "DocumentStateCache",
    "PoolView",
    "StateSpec",
    "block_key",
    "model_fingerprint",
    "template_fingerprint",
]

logger = logging.getLogger(__name__)

_FORMAT = "ctx-incontext-states/1"


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


def block_key(block_ids: Sequence[int]) -> str:
    """The cache key of a candidate block: a hash of its token ids (label, text and cut).

    Examples:
        >>> block_key([1, 2, 3]) == block_key((1, 2, 3)) != block_key([1, 2])
        True
    """
    return _digest([int(t) for t in block_ids])


def model_fingerprint(model: Any) -> str:
    """A fingerprint of a loaded model: its config and a sample of every weight tensor.

    Two models with the same architecture but different weights get different fingerprints
    (the first and last 8 values of each parameter enter the hash).
    """
    import torch

    config = model.config.to_dict() if hasattr(model.config, "to_dict") else vars(model.config)
    config = {
        k: v for k, v in config.items() if not k.startswith("_") and k != "transformers_version"
    }
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            flat = param.detach().reshape(-1)
            sample = torch.cat([flat[:8], flat[-8:]]).to("cpu", torch.float64)
            h.update(name.encode())
            h.update(sample.numpy().tobytes())
    return h.hexdigest()[:32]


def template_fingerprint(instruction_ids: Sequence[int], candidate_template: str) -> str:
    """A fingerprint of what a candidate's states depend on besides its own tokens."""
    return _digest([int(t) for t in instruction_ids], candidate_template)


@dataclass(frozen=True)
class StateSpec:
    """What a cache's states were computed with; a cache serves only rankers that match.

    Attributes:
        model: `model_fingerprint` of the model.
        template: `template_fingerprint` of the instruction and candidate wording.
        layer: The deepest scoring layer ``S`` (keys of ``0..S``, values of ``0..S-1``).
        dtype: The states' dtype (the model's), e.g. ``"bfloat16"``.
        max_block_tokens: The candidate block limit (one arena slot).
        kv_heads: Key/value heads per layer.
        head_dim: Size of one head.
        precision: The engine's ``precision`` the states were computed in (``"model"`` or
            ``"fp8"``); files saved before this field existed read as ``"model"``.
    """

    model: str
    template: str
    layer: int
    dtype: str
    max_block_tokens: int
    kv_heads: int
    head_dim: int
    precision: str = "model"

    def mismatch(self, other: StateSpec) -> list[str]:
        """Names of the fields that differ from ``other``."""
        mine, theirs = asdict(self), asdict(other)
        return [k for k in mine if mine[k] != theirs[k]]

    @property
    def key_layers(self) -> int:
        """Layers whose keys are kept (``S + 1``)."""
        return self.layer + 1

    @property
    def value_layers(self) -> int:
        """Layers whose values are kept (``S``)."""
        return self.layer

    def bytes_per_token(self) -> int:
        """Bytes of cached states per token."""
        import torch

        size = torch.empty(0, dtype=getattr(torch, self.dtype)).element_size()
        return (self.key_layers + self.value_layers) * self.kv_heads * self.head_dim * size


@dataclass
class _Entry:
    slot: int
    length: int
    pins: int = 0


@dataclass
class PoolView:
    """A pool of cached candidates (plus the instruction), as the query path reads it.

    Attributes:
        keys: The arena's keys ``(S+1, H_kv, capacity, D)``.
        values: The arena's values ``(S, H_kv, capacity, D)``.
        instruction_span: ``(start, stop)`` of the instruction's tokens in the arena.
        spans: ``(start, stop)`` arena token range of each candidate, in pool order.
        device: Where the arena is.
    """

    keys: Any
    values: Any
    instruction_span: tuple[int, int]
    spans: list[tuple[int, int]]
    device: Any
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def instruction_length(self) -> int:
        """Tokens in the instruction."""
        return self.instruction_span[1] - self.instruction_span[0]

    @property
    def candidate_lengths(self) -> tuple[int, ...]:
        """Tokens in each candidate block."""
        return tuple(b - a for a, b in self.spans)

    @property
    def num_candidates(self) -> int:
        """Candidates in the pool."""
        return len(self.spans)

    @property
    def prefix_length(self) -> int:
        """Instruction plus candidate tokens."""
        return self.instruction_length + sum(self.candidate_lengths)

    def memo(self, key: Any, build: Any) -> Any:
        """Memoize a derived object (index tensors, kernel plans) on this view."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def token_index(self) -> torch.Tensor:
        """Arena index of every prefix token (instruction, then candidates), ``(P,)``."""
        import torch

        def build() -> torch.Tensor:
            ranges = [range(*self.instruction_span)] + [range(a, b) for a, b in self.spans]
            flat = [i for r in ranges for i in r]
            return torch.tensor(flat, dtype=torch.long, device=self.device)

        index: torch.Tensor = self.memo("token-index", build)
        return index

    def prefix_positions(self) -> torch.Tensor:
        """Position id of every prefix token: ``0..L-1``, then each candidate from ``L``."""
        import torch

        def build() -> torch.Tensor:
            L = self.instruction_length
            pos = list(range(L))
            for n in self.candidate_lengths:
                pos.extend(range(L, L + n))
            return torch.tensor(pos, dtype=torch.long, device=self.device)

        positions: torch.Tensor = self.memo("positions", build)
        return positions

    def structure(self, query_lengths: Sequence[int], query_offset: int) -> SegmentStructure:
        """The segment structure of the prefix followed by query blocks (for the CPU paths)."""
        from ctx_core.incontext.segments import SegmentStructure

        return SegmentStructure(
            self.instruction_length,
            self.candidate_lengths,
            tuple(query_lengths),
            query_offset=query_offset,
        )

    def gathered(self, layer: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Contiguous ``(1, H_kv, P, D)`` keys and values of ``layer`` (a copy; CPU paths).

        The values are ``None`` at the deepest layer ``S`` (only keys are kept there).
        """
        index = self.token_index()
        keys = self.keys[layer].index_select(1, index)[None]
        values = None
        if layer < self.values.shape[0]:
            values = self.values[layer].index_select(1, index)[None]
        return keys, values


class DocumentStateCache:
    """Key/value states of candidate blocks, kept across queries (and saved to disk).

    Pass one to [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] (``cache=``); the ranker
    binds it to its model, template, scoring layer, dtype and block limit on first use, and
    a cache built for another configuration is refused with an error naming what differs.
    Misses are computed and inserted transparently. Safe to share between threads.

    Args:
        max_bytes: Memory budget of the arena on the model's device; the least recently
            used candidates are evicted beyond it.
        cpu_bytes: Budget of a second tier in host memory (pinned when the arena is on a
            GPU) that evicted candidates move to; ``0``: evicted states are dropped.

    Examples:
        >>> cache = DocumentStateCache(max_bytes=64 * 2**20, cpu_bytes=0)
        >>> len(cache), cache.spec is None
        (0, True)
    """

    def __init__(self, max_bytes: int = 8 * 2**30, *, cpu_bytes: int = 0) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        if cpu_bytes < 0:
            raise ValueError(f"cpu_bytes must be >= 0, got {cpu_bytes}")
        self.max_bytes = int(max_bytes)
        self.cpu_bytes = int(cpu_bytes)
        self.spec: StateSpec | None = None
        self.device: Any = None
        self._lock = threading.RLock()
        self._keys: Any = None
        self._values: Any = None
        self._capacity = 0  # slots in the arena
        self._instruction: tuple[int, int] | None = None  # token span in the arena
        self._reserved = 0  # slots taken by the instruction
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._free: list[int] = []
        self._cpu: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._cpu_used = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __repr__(self) -> str:
        return (
            f"DocumentStateCache(entries={len(self)}, max_bytes={self.max_bytes}, "
            f"cpu_bytes={self.cpu_bytes})"
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries) + len(self._cpu)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries or key in self._cpu

    def keys(self) -> list[str]:
        """Keys of every cached candidate (both tiers)."""
        with self._lock:
            return list(self._entries) + list(self._cpu)

    # -- binding ------------------------------------------------------------

    def bind(self, spec: StateSpec, device: Any) -> None:
        """Tie the cache to a configuration (first use); refuse a different one.

        Raises:
            ValueError: the cache holds states of another model, template, layer, dtype,
                block limit or shape.
        """
        import torch

        device = torch.device(device)
        with self._lock:
            if self.spec is None:
                self.spec = spec
                self.device = device
                if self.slot_bytes > self.max_bytes:
                    raise ValueError(
                        f"max_bytes={self.max_bytes} cannot hold one candidate block "
                        f"({self.slot_bytes} bytes)"
                    )
                return
            diff = self.spec.mismatch(spec)
            if diff:
                detail = ", ".join(
                    f"{name}: cache {getattr(self.spec, name)!r} vs ranker {getattr(spec, name)!r}"
                    for name in diff
                )
                raise ValueError(
                    "this DocumentStateCache holds states computed for another configuration "
                    f"({detail}); use a separate cache per model, template, scoring layer, "
                    "dtype and max_block_tokens"
                )
            if self.device is not None and device != self.device:
                self._move(device)

    def _require_spec(self) -> StateSpec:
        if self.spec is None:
            raise RuntimeError("the cache is not bound to a ranker yet (no states in it)")
        return self.spec

    @property
    def slot_bytes(self) -> int:
        """Arena bytes per candidate slot (``max_block_tokens`` tokens)."""
        spec = self._require_spec()
        return spec.bytes_per_token() * spec.max_block_tokens

    def bytes_per_token(self) -> int:
        """Bytes of states per cached token (keys and values of every kept layer)."""
        return self._require_spec().bytes_per_token()

    # -- arena --------------------------------------------------------------

    def _max_slots(self) -> int:
        return max(1, self.max_bytes // self.slot_bytes)

    def _allocate(self, capacity: int) -> None:
        import torch

        spec = self._require_spec()
        dtype = getattr(torch, spec.dtype)
        tokens = capacity * spec.max_block_tokens
        keys = torch.empty(
            spec.key_layers, spec.kv_heads, tokens, spec.head_dim, dtype=dtype, device=self.device
        )
        values = torch.empty(
            spec.value_layers, spec.kv_heads, tokens, spec.head_dim, dtype=dtype, device=self.device
        )
        if self._keys is not None:
            used = self._capacity * spec.max_block_tokens
            keys[:, :, :used] = self._keys
            values[:, :, :used] = self._values
        self._free.extend(range(capacity - 1, self._capacity - 1, -1))
        self._keys, self._values, self._capacity = keys, values, capacity

    def _move(self, device: Any) -> None:
        self.device = device
        if self._keys is not None:
            self._keys = self._keys.to(device)
            self._values = self._values.to(device)

    def _slot(self) -> int:
        """A free slot, growing the arena or evicting the least recently used entry."""
        if not self._free and self._capacity < self._max_slots():
            self._allocate(min(self._max_slots(), max(self._capacity * 2, self._reserved + 16)))
        if self._free:
            return self._free.pop()
        for key, entry in self._entries.items():  # oldest first
            if entry.pins == 0:
                self._evict(key)
                return self._free.pop()
        raise MemoryError(
            f"DocumentStateCache(max_bytes={self.max_bytes}) holds {self._capacity} slots, all "
            "in use by the current pool; raise max_bytes or rank fewer candidates at once"
        )

    def _evict(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.evictions += 1
        if self.cpu_bytes:
            k, v = self._read(entry)
            size = k.numel() * k.element_size() + v.numel() * v.element_size()
            if size <= self.cpu_bytes:
                pin = self.device is not None and self.device.type == "cuda"
                # copy=True: on a CPU arena .to("cpu") would return a view of the slot
                k_host, v_host = k.to("cpu", copy=True), v.to("cpu", copy=True)
                if pin:
                    k_host, v_host = k_host.pin_memory(), v_host.pin_memory()
                self._cpu[key] = (k_host, v_host)
                self._cpu_used += size
                while self._cpu_used > self.cpu_bytes:
                    _, (ok, ov) = self._cpu.popitem(last=False)
                    self._cpu_used -= (
                        ok.numel() * ok.element_size() + ov.numel() * ov.element_size()
                    )
        self._free.append(entry.slot)

    def _span(self, entry: _Entry) -> tuple[int, int]:
        start = entry.slot * self._require_spec().max_block_tokens
        return start, start + entry.length

    def _read(self, entry: _Entry) -> tuple[Any, Any]:
        a, b = self._span(entry)
        return self._keys[:, :, a:b], self._values[:, :, a:b]

    def _write(self, key: str, keys: Any, values: Any) -> None:
        spec = self._require_spec()
        length = int(keys.shape[2])
        if length > spec.max_block_tokens or length < 1:
            raise ValueError(
                f"a candidate block of {length} tokens does not fit max_block_tokens="
                f"{spec.max_block_tokens}"
            )
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        slot = self._slot()
        entry = _Entry(slot, length)
        a, b = self._span(entry)
        self._keys[:, :, a:b] = keys.to(self.device, non_blocking=True)
        self._values[:, :, a:b] = values.to(self.device, non_blocking=True)
        self._entries[key] = entry

    # -- public state API ---------------------------------------------------

    def has_instruction(self) -> bool:
        """Whether the instruction's states are stored."""
        return self._instruction is not None

    def set_instruction(self, keys: Any, values: Any) -> None:
        """Store the instruction's states: keys ``(S+1, H_kv, L, D)``, values ``(S, H_kv, L, D)``."""
        spec = self._require_spec()
        with self._lock:
            length = int(keys.shape[2])
            slots = math.ceil(length / spec.max_block_tokens)
            if self._instruction is not None:
                if self._instruction[1] - self._instruction[0] != length:
                    raise ValueError("the instruction's length changed; the cache is bound to it")
                a, b = self._instruction
            else:
                if self._keys is not None:
                    raise RuntimeError("set the instruction before any candidate")
                if slots + 1 > self._max_slots():
                    raise ValueError(f"max_bytes={self.max_bytes} cannot hold the instruction")
                self._reserved = slots
                self._allocate(min(self._max_slots(), slots + 16))
                self._free = [s for s in self._free if s >= slots]  # the instruction's slots
                a, b = 0, length
                self._instruction = (a, b)
            self._keys[:, :, a:b] = keys.to(self.device)
            self._values[:, :, a:b] = values.to(self.device)

    def instruction_states(self) -> tuple[Any, Any]:
        """The stored instruction states (views into the arena)."""
        with self._lock:
            if self._instruction is None:
                raise KeyError("no instruction states stored")
            a, b = self._instruction
            return self._keys[:, :, a:b], self._values[:, :, a:b]

    def put(self, key: str, keys: Any, values: Any) -> None:
        """Store one candidate's states: keys ``(S+1, H_kv, n, D)``, values ``(S, H_kv, n, D)``."""
        spec = self._require_spec()
        if tuple(keys.shape) != (spec.key_layers, spec.kv_heads, keys.shape[2], spec.head_dim):
            raise ValueError(f"keys of shape {tuple(keys.shape)} do not match {spec}")
        if tuple(values.shape) != (spec.value_layers, *keys.shape[1:]):
            raise ValueError(f"values of shape {tuple(values.shape)} do not match the keys")
        with self._lock:
            if not self.has_instruction():
                raise RuntimeError("store the instruction's states (set_instruction) first")
            self._write(key, keys, values)

    def get(self, key: str) -> tuple[Any, Any]:
        """One candidate's states (a copy), from either tier.

        Raises:
            KeyError: not cached.
        """
        with self._lock:
            if key in self._entries:
                k, v = self._read(self._entries[key])
                return k.clone(), v.clone()
            if key in self._cpu:
                k, v = self._cpu[key]
                return k.clone(), v.clone()
        raise KeyError(key)

    def discard(self, key: str) -> bool:
        """Drop one candidate's states from both tiers; returns whether it was cached.

        Raises:
            RuntimeError: the candidate is in a pool that is in use.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                if entry.pins:
                    raise RuntimeError(f"candidate {key} is in use by a pool")
                del self._entries[key]
                self._free.append(entry.slot)
                return True
            if key in self._cpu:
                k, v = self._cpu.pop(key)
                self._cpu_used -= k.numel() * k.element_size() + v.numel() * v.element_size()
                return True
            return False

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys (in order, without repeats) cached in neither tier."""
        seen: set[str] = set()
        out = []
        with self._lock:
            for key in keys:
                if key not in seen and key not in self._entries and key not in self._cpu:
                    out.append(key)
                seen.add(key)
        return out

    @contextmanager
    def pool(self, keys: Sequence[str]) -> Iterator[PoolView]:
        """Pin the candidates ``keys`` (all cached) on the device and yield their view.

        Entries held by a view are never evicted until the block exits. Candidates found in
        the CPU tier are copied back into the arena.

        Raises:
            KeyError: a key is not cached.
            MemoryError: the pool does not fit ``max_bytes``.
        """
        with self._lock:
            if self._instruction is None:
                raise KeyError("no instruction states stored")
            room = self._max_slots() - self._reserved
            if len(set(keys)) > room:
                raise MemoryError(
                    f"a pool of {len(set(keys))} candidates does not fit DocumentStateCache("
                    f"max_bytes={self.max_bytes}), which holds {room}; raise max_bytes"
                )
            pinned: list[_Entry] = []
            try:
                for key in keys:
                    entry = self._entries.get(key)
                    if entry is None and key in self._cpu:
                        k, v = self._cpu.pop(key)
                        self._cpu_used -= (
                            k.numel() * k.element_size() + v.numel() * v.element_size()
                        )
                        self._write(key, k, v)
                        entry = self._entries[key]
                    if entry is None:
                        self.misses += 1
                        raise KeyError(f"candidate {key} is not cached")
                    self.hits += 1
                    self._entries.move_to_end(key)
                    entry.pins += 1
                    pinned.append(entry)
            except BaseException:
                for entry in pinned:
                    entry.pins -= 1
                raise
            view = PoolView(
                keys=self._keys,
                values=self._values,
                instruction_span=self._instruction,
                spans=[self._span(e) for e in pinned],
                device=self.device,
            )
        try:
            yield view
        finally:
            with self._lock:
                for entry in pinned:
                    entry.pins -= 1

    def stats(self) -> dict[str, Any]:
        """Entries per tier, bytes in use, bytes per cached token, hits, misses, evictions."""
        with self._lock:
            tokens = sum(e.length for e in self._entries.values())
            per_token = self.spec.bytes_per_token() if self.spec else None
            return {
                "entries": len(self._entries) + len(self._cpu),
                "device_entries": len(self._entries),
                "cpu_entries": len(self._cpu),
                "device_tokens": tokens,
                "bytes_per_token": per_token,
                "device_bytes_used": tokens * per_token if per_token else 0,
                "device_bytes_allocated": (
                    self._keys.numel() * self._keys.element_size()
                    + self._values.numel() * self._values.element_size()
                    if self._keys is not None
                    else 0
                ),
                "cpu_bytes_used": self._cpu_used,
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
            }

    # -- persistence -------------------------------------------------------

    def save(self, path: str | Path, keys: Iterable[str] | None = None) -> Path:
        """Write the states (both tiers, or only ``keys``) and the spec to a safetensors file.

        Returns:
            The path written.
        """
        from ctx_core.errors import require

        require("safetensors", "local", "Saving in-context states")
        from safetensors.torch import save_file

        spec = self._require_spec()
        path = Path(path)
        tensors: dict[str, Any] = {}
        with self._lock:
            if self._instruction is not None:
                k, v = self.instruction_states()
                tensors["instruction/k"] = k.contiguous().cpu()
                tensors["instruction/v"] = v.contiguous().cpu()
            wanted = self.keys() if keys is None else list(keys)
            for key in wanted:
                k, v = self.get(key)
                tensors[f"k/{key}"] = k.contiguous().cpu()
                tensors[f"v/{key}"] = v.contiguous().cpu()
        metadata = {"format": _FORMAT, "spec": json.dumps(asdict(spec), sort_keys=True)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)  # a crash never leaves a half-written file under the real name
        return path

    @staticmethod
    def read_spec(path: str | Path) -> tuple[StateSpec, list[str]]:
        """The spec and candidate keys stored in one saved file (reads no tensors)."""
        from ctx_core.errors import require

        require("safetensors", "local", "Loading in-context states")
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            names = list(f.keys())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a saved DocumentStateCache ({_FORMAT})")
        spec = StateSpec(**json.loads(meta["spec"]))
        return spec, [n[2:] for n in names if n.startswith("k/")]

    def load(self, path: str | Path, device: Any = None) -> int:
        """Add the states saved in a file, or in every ``*.safetensors`` file of a folder.

        An unbound cache takes the files' spec (on ``device``, default CPU); a bound one
        refuses files of another configuration.

        Returns:
            How many candidates were added.
        """
        from safetensors import safe_open

        path = Path(path)
        files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
        if not files:
            raise FileNotFoundError(f"no *.safetensors files in {path}")
        added = 0
        for file in files:
            spec, _ = self.read_spec(file)
            with self._lock:
                self.bind(spec, device if device is not None else (self.device or "cpu"))
                with safe_open(str(file), framework="pt") as f:
                    names = list(f.keys())
                    if not self.has_instruction():
                        if "instruction/k" not in names:
                            raise ValueError(f"{file} holds no instruction states")
                        self.set_instruction(
                            f.get_tensor("instruction/k"), f.get_tensor("instruction/v")
                        )
                    for name in names:
                        if not name.startswith("k/"):
                            continue
                        key = name[2:]
                        if key in self:
                            continue
                        self.put(key, f.get_tensor(name), f.get_tensor(f"v/{key}"))
                        added += 1
        return added
