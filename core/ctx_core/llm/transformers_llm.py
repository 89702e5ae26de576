"""A local Hugging Face causal LM as a core [`ScoringLLM`][ctx_core.llm.base.ScoringLLM]."""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ctx_core._registry import Configurable
from ctx_core.llm.base import (
    BaseLLM,
    CompletionChunk,
    Prompt,
    SequenceScore,
    cut_at_stop,
    to_messages,
)
from ctx_core.models import DEFAULT_LLM, load_causal_lm, model_lock

__all__ = ["TransformersLLM"]

logger = logging.getLogger(__name__)


F = TypeVar("F", bound=Callable[..., Any])


def _holding_model_lock(method: F) -> F:
    """Run ``method`` holding the model's lock: its tokenizer is not safe to share across threads."""

    @functools.wraps(method)
    def locked(self: TransformersLLM, *args: Any, **kwargs: Any) -> Any:
        with model_lock(self.model):
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class TransformersLLM(BaseLLM, Configurable):
    """Any local causal LM from transformers, with its chat template.

    Implements generation, streaming (token by token, with token counts: the
    [`StreamingLLM`][ctx_core.llm.base.StreamingLLM] protocol) and the scoring protocol (next-token
    and continuation log-probabilities) with batched, padded forward passes.

    Args:
        model: Hugging Face id, local path, or alias (``"smollm2"`` - the default -
            or ``"gemma3-270m"``; both load offline from their packages).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` (default by device).
        batch_size: Prompts per forward pass.
        max_length: Longest prompt in tokens; longer prompts keep their end and a
            warning is logged. Default: the model's context size, capped at 4096.
        use_chat_template: Render prompts with the tokenizer's chat template
            (default: when the tokenizer has one).
        seed: Seed for sampling when ``temperature > 0``.

    Examples:
        >>> llm = TransformersLLM("smollm2")  # doctest: +SKIP
        >>> llm.complete("What is the capital of France?", max_tokens=12)  # doctest: +SKIP
        'The capital of France is Paris.'
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 8,
        max_length: int | None = None,
        use_chat_template: bool | None = None,
        seed: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = model or DEFAULT_LLM
        # What was asked for (config() records these; device and dtype are resolved below).
        self._options = {
            "device": device,
            "dtype": dtype,
            "max_length": max_length,
            "use_chat_template": use_chat_template,
        }
        self.model, self.tokenizer = load_causal_lm(model, device, dtype)
        self.device = self.model.device
        self.batch_size = batch_size
        context = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self.max_length = max_length or min(context, 4096)
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.use_chat_template = has_template if use_chat_template is None else use_chat_template
        if self.use_chat_template and not has_template:
            raise ValueError(f"use_chat_template=True but {self.model_name!r} has no chat template")
        self.seed = seed
        self._pad_id = self.tokenizer.pad_token_id
        if self._pad_id is None:
            self._pad_id = self.tokenizer.eos_token_id or 0

    def config(self) -> dict[str, Any]:
        """The model by id, path or alias, and the settings as given."""
        return {
            "type": "TransformersLLM",
            "model": self.model_name,
            "device": self._options["device"],
            "dtype": self._options["dtype"],
            "batch_size": self.batch_size,
            "max_length": self._options["max_length"],
            "use_chat_template": self._options["use_chat_template"],
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        return f"TransformersLLM(model={self.model_name!r}, device={str(self.device)!r})"

    # -- prompt rendering -------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        """The exact text the model reads for ``prompt`` (chat template + generation prompt)."""
        messages = to_messages(prompt)
        if self.use_chat_template:
            return str(
                self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
        if len(messages) == 1 and messages[0]["role"] == "user":
            return messages[0]["content"]
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    @_holding_model_lock
    def prompt_ids(self, prompt: Prompt, reserve: int = 0) -> list[int]:
        """Token ids of the rendered prompt, cut to fit ``max_length - reserve`` (keeping the end)."""
        text = self.render(prompt)
        # A chat template writes the BOS token itself; plain text needs the tokenizer's.
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=not self.use_chat_template)
        limit = self.max_length - reserve
        if len(ids) > limit:
            logger.warning(
                "prompt of %d tokens exceeds %d (max_length=%d); keeping its last %d tokens",
                len(ids),
                limit,
                self.max_length,
                limit,
            )
            ids = ids[-limit:]
        return ids

    # -- generation -------------------------------------------------------

    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Generate a reply to ``prompt``."""
        return self.complete_batch(
            [prompt], max_tokens=max_tokens, temperature=temperature, stop=stop
        )[0]

    @_holding_model_lock
    def complete_batch(
        self,
        prompts: Sequence[Prompt],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> list[str]:
        """Generate replies for several prompts, ``batch_size`` at a time (left padding)."""
        import torch

        options = self._generation_options(max_tokens, temperature, stop)
        encoded = [self.prompt_ids(p, reserve=max_tokens) for p in prompts]
        replies: list[str] = [""] * len(encoded)
        if self.seed is not None:
            torch.manual_seed(self.seed)
        for index in self._batches_by_length(encoded):
            input_ids, attention = self._pad([encoded[i] for i in index], left=True)
            with torch.no_grad():
                output = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=attention,
                    **options,
                )
            new_tokens = output[:, input_ids.shape[1] :]
            for row, i in enumerate(index):
                text = self.tokenizer.decode(new_tokens[row], skip_special_tokens=True)
                replies[i] = cut_at_stop(text, stop).strip()
        return replies

    def stream(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[CompletionChunk]:
        """Stream the reply to ``prompt`` token by token, as the model generates it.

        The joined text equals [`complete`][ctx_core.llm.transformers_llm.TransformersLLM.complete]'s reply for the same arguments (text
        that could still turn into a stop string, or trailing whitespace, is held back
        until it is known to belong to the reply). The first chunk carries the prompt's
        token count; each chunk the number of tokens generated since the one before.
        Closing the iterator early stops the generation.

        Examples:
            >>> chunks = list(llm.stream("Name a color.", max_tokens=8))  # doctest: +SKIP
            >>> "".join(c.text for c in chunks) == llm.complete("Name a color.", max_tokens=8)  # doctest: +SKIP
            True
        """
        options = self._generation_options(max_tokens, temperature, stop)
        ids = self.prompt_ids(prompt, reserve=max_tokens)
        return self._stream(ids, options, max_tokens, list(stop or []))

    def _stream(
        self, ids: list[int], options: dict[str, Any], max_tokens: int, stop: list[str]
    ) -> Iterator[CompletionChunk]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tokens = _TokenQueue(self.tokenizer)
        cancel = threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

        def generate() -> None:
            try:
                with model_lock(self.model), torch.no_grad():
                    if self.seed is not None:
                        torch.manual_seed(self.seed)
                    input_ids, attention = self._pad([ids], left=True)
                    self.model.generate(
                        input_ids=input_ids,
                        attention_mask=attention,
                        streamer=tokens,
                        stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                        **options,
                    )
            except BaseException as err:  # handed to the reading thread, raised there
                tokens.fail(err)

        worker = threading.Thread(target=generate, name="ctx-llm-stream", daemon=True)
        worker.start()
        raw, sent, counted, first = "", "", 0, True
        try:
            for delta, n in tokens:
                raw += delta
                counted += n
                visible, stopped = _visible(raw, stop)
                if stopped:
                    cancel.set()  # generate() stops at its next step
                if len(visible) > len(sent):
                    yield CompletionChunk(visible[len(sent) :], len(ids) if first else 0, counted)
                    sent, counted, first = visible, 0, False
            final = cut_at_stop(raw, stop).strip()
            hit_stop = len(cut_at_stop(raw, stop)) < len(raw)
            ended = tokens.last_id is not None and tokens.last_id in _eos_ids(self.model)
            finish = "length" if tokens.count >= max_tokens and not (hit_stop or ended) else "stop"
            yield CompletionChunk(final[len(sent) :], len(ids) if first else 0, counted, finish)
        finally:
            cancel.set()
            worker.join()

    def _generation_options(
        self, max_tokens: int, temperature: float, stop: Sequence[str] | None
    ) -> dict[str, Any]:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        options: dict[str, Any] = {"max_new_tokens": max_tokens, "pad_token_id": self._pad_id}
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature, top_p=1.0, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stop:
            options.update(stop_strings=list(stop), tokenizer=self.tokenizer)
        return options

    # -- scoring ----------------------------------------------------------

    @_holding_model_lock
    def next_token_logprobs(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> list[list[float]]:
        """Log-probability of each of ``tokens`` (their first token) as the reply's first token.

        Examples:
            >>> llm.next_token_logprobs(["Is Paris in France? Answer yes or no."], ["yes", "no"])  # doctest: +SKIP
            [[-0.4, -1.2]]
        """
        import torch

        if not tokens:
            raise ValueError("tokens must name at least one token")
        token_ids = [self._first_token_id(t) for t in tokens]
        encoded = [self.prompt_ids(p) for p in prompts]
        result: list[list[float]] = [[] for _ in encoded]
        for index in self._batches_by_length(encoded):
            input_ids, attention = self._pad([encoded[i] for i in index], left=True)
            with torch.no_grad():
                logits = self._forward(input_ids, attention, last_only=True)[:, -1, :]
            logprobs = torch.log_softmax(logits.float(), dim=-1)[:, token_ids]
            for row, i in enumerate(index):
                result[i] = [float(x) for x in logprobs[row]]
        return result

    @_holding_model_lock
    def continuation_logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[SequenceScore]:
        """Log-probability of each continuation as the reply to its prompt (summed over its tokens)."""
        import torch

        if len(prompts) != len(continuations):
            raise ValueError(
                f"prompts and continuations differ in length ({len(prompts)} vs {len(continuations)})"
            )
        pairs: list[tuple[list[int], list[int]]] = []
        for prompt, continuation in zip(prompts, continuations, strict=True):
            tail = self.tokenizer.encode(continuation, add_special_tokens=False)
            if not tail:
                raise ValueError("continuations must not be empty")
            tail = tail[: self.max_length - 1]
            pairs.append((self.prompt_ids(prompt, reserve=len(tail)), tail))
        joined = [head + tail for head, tail in pairs]
        result: list[SequenceScore] = [SequenceScore(0.0, 0)] * len(pairs)
        for index in self._batches_by_length(joined):
            input_ids, attention = self._pad([joined[i] for i in index], left=False)
            with torch.no_grad():
                logprobs = torch.log_softmax(self._forward(input_ids, attention).float(), dim=-1)
            for row, i in enumerate(index):
                head, tail = pairs[i]
                positions = torch.arange(len(head) - 1, len(head) + len(tail) - 1)
                targets = torch.tensor(tail)
                total = logprobs[row, positions, targets].sum()
                result[i] = SequenceScore(float(total), len(tail))
        return result

    # -- helpers ----------------------------------------------------------

    def _first_token_id(self, token: str) -> int:
        ids = self.tokenizer.encode(token, add_special_tokens=False)
        if not ids:
            raise ValueError(f"token {token!r} encodes to nothing")
        return int(ids[0])

    def _forward(self, input_ids: Any, attention: Any, last_only: bool = False) -> Any:
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        # With left padding the last position is every row's next token: skip the LM head elsewhere.
        extra = {"logits_to_keep": 1} if last_only else {}
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=False,
            **extra,
        )
        return out.logits

    def _batches_by_length(self, encoded: Sequence[Sequence[int]]) -> Iterator[list[int]]:
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    def _pad(self, seqs: Sequence[Sequence[int]], left: bool) -> tuple[Any, Any]:
        import torch

        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            span = slice(width - len(seq), width) if left else slice(0, len(seq))
            ids[row, span] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, span] = 1
        return ids.to(self.device), mask.to(self.device)


def _eos_ids(model: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(eos)} if isinstance(eos, int) else {int(e) for e in eos}


def _visible(raw: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The part of ``raw`` sure to begin the final reply, and whether a stop string was seen.

    The reply is ``cut_at_stop(raw, stop).strip()`` once generation ends; until then an
    ending that could grow into a stop string, and trailing whitespace, are held back.
    """
    cut = cut_at_stop(raw, stop)
    if len(cut) < len(raw):
        return cut.strip(), True
    hold = 0
    for s in stop:
        for size in range(min(len(s) - 1, len(cut)), hold, -1):
            if cut.endswith(s[:size]):
                hold = size
                break
    return cut[: len(cut) - hold].strip(), False


class _TokenQueue:
    """A generation streamer: each new token's text (decoded in context) into a queue.

    ``generate`` calls `put` with the prompt first, then with each new token, and
    `end` when it is done; iterating yields ``(new text, tokens)`` pairs. Text is
    decoded from all tokens so far, so a character spread over several tokens comes out
    whole once its last token arrives.
    """

    _END = object()

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.items: queue.Queue[Any] = queue.Queue()
        self.ids: list[int] = []
        self.text = ""
        self.prompt_seen = False
        self.count = 0
        self.last_id: int | None = None
        self.error: BaseException | None = None

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        new = [int(t) for t in value.reshape(-1).tolist()]
        self.ids.extend(new)
        self.count += len(new)
        self.last_id = new[-1] if new else self.last_id
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        delta = ""
        # An incomplete multi-byte character decodes to U+FFFD: wait for its next token.
        if not text.endswith("\ufffd") and text.startswith(self.text):
            delta, self.text = text[len(self.text) :], text
        self.items.put((delta, len(new)))

    def end(self) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.startswith(self.text) and len(text) > len(self.text):
            self.items.put((text[len(self.text) :], 0))
            self.text = text
        self.items.put(self._END)

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.items.put(self._END)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        while True:
            item = self.items.get()
            if item is self._END:
                if self.error is not None:
                    raise self.error
                return
            yield item
