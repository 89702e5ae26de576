"""The context task: the context tools on generated long-context tasks (``ctx eval context``).

Three ways to answer each question, on the same generated items:

* ``plain``: the LLM reads the full context and the question.
* ``scripted``: a [`ScriptedPolicy`][ctx_core.context.policy.ScriptedPolicy] fragments and folds the
  context and runs fixed searches; the LLM then answers from what is left.
* ``agent``: [`ActiveContextAgent`][ctx_core.context.agent.ActiveContextAgent]: the LLM itself calls the
  tools (at most ``max_tool_calls``), then answers.

For each, the results give the accuracy, whether the answer was visible in what the
LLM finally read (for ``scripted``, the tools' recall), and how long that final
prompt was.

Examples:
    >>> from ctx_core.eval.tasks.context import pi_llm_items
    >>> source = {"bird": ["kea", "emu", "rook"], "fruit": ["fig", "lime", "date"]}
    >>> items = list(pi_llm_items([{"n_keys": 2, "n_updates": 3}], trials=1, source=source))
    >>> len(items), items[0].size
    (2, 'k2-u3')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from ctx_core.context.agent import (
    ActiveContextAgent,
    AgentTurn,
    ToolCallRecord,
    reader_turn,
    run_agents,
)
from ctx_core.context.policy import ScriptedPolicy
from ctx_core.context.tools import ContextTools, format_tool_result
from ctx_core.context.working import WorkingContext
from ctx_core.eval.generators.multi_needle import generate_multi_needle, score_multi_needle
from ctx_core.eval.generators.pi_llm import generate_pi_llm, score_pi_llm
from ctx_core.llm.base import LLM
from ctx_core.progress import progress

__all__ = [
    "METHODS",
    "TASKS",
    "ContextEvaluator",
    "EvalItem",
    "multi_needle_items",
    "pi_llm_items",
    "run_context_eval",
    "run_item",
    "run_items",
    "summarize_records",
]

logger = logging.getLogger(__name__)

METHODS = ("plain", "scripted", "agent")
TASKS = ("pi-llm", "multi-needle")

KINSHIP_REGEX = r"\b(?:grand)?(?:father|mother)\b"


@dataclass
class EvalItem:
    """One question over one generated context.

    Attributes:
        task: ``"pi-llm"`` or ``"multi-needle"``.
        size: Label of the task size (e.g. ``"k4-u8"``).
        trial: Which generated instance of that size.
        item_id: Unique id within the run.
        document: The long context (one user message).
        question: The question asked after it.
        expected: The answer.
        score: Scores a reply: a dict with at least ``"correct"``.
        policy: The scripted policy for this item.
        answer_max_tokens: Generation limit for the answer.
        info: Extra fields for the results file.
    """

    task: str
    size: str
    trial: int
    item_id: str
    document: str
    question: str
    expected: str
    score: Callable[[str], dict[str, Any]]
    policy: ScriptedPolicy
    answer_max_tokens: int = 32
    info: dict[str, Any] = field(default_factory=dict)


def pi_llm_items(
    sizes: Sequence[Mapping[str, Any]],
    *,
    trials: int = 3,
    seed: int = 0,
    keys_per_task: int | None = None,
    sequential: bool = False,
    window_tokens: int = 200,
    data_dir: str | Path | None = None,
    source: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[EvalItem]:
    """PI-LLM items: one question per probed key (``keys_per_task``: at most this many keys).

    Each size is ``{"n_keys": n, "n_updates": m}``; trial ``t`` of the ``i``-th size uses
    seed ``seed + 1000 * i + t`` (so sizes do not share their keys).
    """
    for index, size in enumerate(sizes):
        n_keys, n_updates = int(size["n_keys"]), int(size["n_updates"])
        label = f"k{n_keys}-u{n_updates}"
        for trial in range(trials):
            task = generate_pi_llm(
                n_keys,
                n_updates,
                sequential=sequential,
                seed=seed + 1000 * index + trial,
                source=source,
                data_dir=data_dir,
            )
            probed = task.keys[: keys_per_task or len(task.keys)]
            for key in probed:

                def score(reply: str, task: Any = task, key: str = key) -> dict[str, Any]:
                    result = score_pi_llm(task, reply, [key])["per_key"][key]
                    return {
                        "correct": result["correct"],
                        "stale": result["stale"],
                        "predicted": result["predicted"],
                    }

                yield EvalItem(
                    task="pi-llm",
                    size=label,
                    trial=trial,
                    item_id=f"{label}-t{trial}-{key}",
                    document=task.context,
                    question=task.question(key),
                    expected=task.answers[key],
                    score=score,
                    policy=ScriptedPolicy.last_update([key], window_tokens=window_tokens),
                    answer_max_tokens=24,
                    info={"key": key, "seed": task.seed, **task.config},
                )


def multi_needle_items(
    sizes: Sequence[Mapping[str, Any]],
    *,
    trials: int = 3,
    seed: int = 0,
    window_tokens: int = 200,
    data_dir: str | Path | None = None,
    haystack: str | None = None,
) -> Iterator[EvalItem]:
    """Multi-needle items; each size is ``{"n_needles": n, "context_tokens": t}``
    (optionally ``"depths"``); trial ``t`` of the ``i``-th size uses seed ``seed + 1000 * i + t``."""
    for index, size in enumerate(sizes):
        n_needles, tokens = int(size["n_needles"]), int(size["context_tokens"])
        label = f"n{n_needles}-t{tokens}"
        for trial in range(trials):
            task = generate_multi_needle(
                n_needles,
                tokens,
                depths=size.get("depths"),
                seed=seed + 1000 * index + trial,
                data_dir=data_dir,
                haystack=haystack,
            )

            def score(reply: str, task: Any = task) -> dict[str, Any]:
                return score_multi_needle(task, reply)

            policy = ScriptedPolicy.search_terms(
                [KINSHIP_REGEX],
                mode="regex",
                max_results=20,
                window=150,
                window_tokens=window_tokens,
            )
            yield EvalItem(
                task="multi-needle",
                size=label,
                trial=trial,
                item_id=f"{label}-t{trial}",
                document=task.context,
                question=task.question,
                expected=task.answer,
                score=score,
                policy=policy,
                answer_max_tokens=24,
                info={"chain": task.chain, **task.config},
            )


def _model_prompt_tokens(llm: LLM, prompt: list[dict[str, str]]) -> int | None:
    prompt_ids = getattr(llm, "prompt_ids", None)
    if prompt_ids is None or not prompt:
        return None
    try:
        return len(prompt_ids(prompt))
    except Exception:  # another LLM type with a different prompt_ids: skip the figure
        return None


def _record(
    item: EvalItem, method: str, llm: LLM, context: WorkingContext, turn: AgentTurn
) -> dict[str, Any]:
    read = "\n".join(m["content"] for m in turn.final_prompt).casefold()
    scored = item.score(turn.answer)
    return {
        "item_id": item.item_id,
        "task": item.task,
        "size": item.size,
        "trial": item.trial,
        "method": method,
        "question": item.question,
        "expected": item.expected,
        "answer": turn.answer,
        **scored,
        "answer_visible": item.expected.casefold() in read,
        "prompt_tokens": turn.final_prompt_tokens,
        "context_tokens": turn.final_context_tokens,
        "model_prompt_tokens": _model_prompt_tokens(llm, turn.final_prompt),
        "document_tokens": context.counter.count(item.document),
        "tool_calls": len(turn.tool_calls),
        "tool_errors": sum(not c.ok for c in turn.tool_calls),
        "tools_used": [c.name for c in turn.tool_calls],
        "hit_cap": turn.hit_cap,
        "llm_calls": turn.llm_calls,
        "seconds": round(turn.seconds, 3),
        **{f"info_{k}": v for k, v in item.info.items()},
    }


def run_items(
    items: Sequence[EvalItem],
    method: str,
    llm: LLM,
    *,
    max_tool_calls: int = 20,
    agent_max_tokens: int = 96,
    tool_names: Sequence[str] | None = None,
    result_style: str = "json",
) -> list[dict[str, Any]]:
    """Answer ``items`` with one method, batching the model calls; one record per item.

    ``seconds`` in a record is its share of the batch's wall time.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if not items:
        return []
    formatter = partial(format_tool_result, style=result_style)
    started = time.perf_counter()
    contexts = [WorkingContext([("user", item.document)]) for item in items]
    turns: list[AgentTurn]
    if method == "agent":
        agents = [
            ActiveContextAgent(
                llm,
                context,
                tools=ContextTools(context, llm=llm),
                tool_names=tool_names,
                max_tool_calls=max_tool_calls,
                max_tokens=agent_max_tokens,
                result_formatter=formatter,
            )
            for context in contexts
        ]
        turns = run_agents(llm, agents, [item.question for item in items])
    else:
        turns = []
        for item, context in zip(items, contexts, strict=True):
            records: list[ToolCallRecord] = []
            if method == "scripted":
                policy = replace(item.policy, formatter=formatter)
                records = policy.run(ContextTools(context, llm=llm))
            turn = reader_turn(context, item.question)
            turn.tool_calls = records
            turns.append(turn)
        by_tokens: dict[int, list[int]] = {}
        for i, item in enumerate(items):
            by_tokens.setdefault(item.answer_max_tokens, []).append(i)
        for max_tokens, members in by_tokens.items():
            prompts = [turns[i].final_prompt for i in members]
            batch = getattr(llm, "complete_batch", None)
            if batch is not None:
                answers = batch(prompts, max_tokens=max_tokens)
            else:
                answers = [llm.complete(p, max_tokens=max_tokens) for p in prompts]
            for i, answer in zip(members, answers, strict=True):
                turns[i].answer = answer.strip()
                turns[i].llm_calls = 1
                contexts[i].append("assistant", turns[i].answer)
    share = (time.perf_counter() - started) / len(items)
    out = []
    for item, context, turn in zip(items, contexts, turns, strict=True):
        turn.seconds = share
        out.append(_record(item, method, llm, context, turn))
    return out


def run_item(
    item: EvalItem,
    method: str,
    llm: LLM,
    *,
    max_tool_calls: int = 20,
    agent_max_tokens: int = 96,
    tool_names: Sequence[str] | None = None,
    result_style: str = "json",
) -> dict[str, Any]:
    """Answer one item with one method; the record for the results file."""
    return run_items(
        [item],
        method,
        llm,
        max_tool_calls=max_tool_calls,
        agent_max_tokens=agent_max_tokens,
        tool_names=tool_names,
        result_style=result_style,
    )[0]


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarize_records(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metrics by size and method: accuracy, answer visibility, tokens read, tool use, time."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["size"], r["method"]), []).append(r)
    summary: dict[str, dict[str, Any]] = {}
    for (size, method), rows in groups.items():
        model_tokens = [r["model_prompt_tokens"] for r in rows if r["model_prompt_tokens"]]
        entry = {
            "n": len(rows),
            "accuracy": _mean([float(r["correct"]) for r in rows]),
            "answer_visible": _mean([float(r["answer_visible"]) for r in rows]),
            "mean_prompt_tokens": _mean([r["prompt_tokens"] for r in rows]),
            "mean_model_prompt_tokens": _mean(model_tokens),
            "mean_document_tokens": _mean([r["document_tokens"] for r in rows]),
            "mean_tool_calls": _mean([r["tool_calls"] for r in rows]),
            "tool_error_rate": _mean(
                [r["tool_errors"] / r["tool_calls"] for r in rows if r["tool_calls"]]
            ),
            "hit_cap_rate": _mean([float(r["hit_cap"]) for r in rows]),
            "mean_seconds": _mean([r["seconds"] for r in rows]),
        }
        if "stale" in rows[0]:
            entry["stale_rate"] = _mean([float(bool(r["stale"])) for r in rows])
        summary.setdefault(size, {})[method] = entry
    return summary


class ContextEvaluator:
    """The context benchmark: generated items answered plain, scripted and by the agent.

    Built from the task, its sizes and options (the items are generated once, on the
    first call), called with the LLM that reads (and decides, for ``agent``). ``plain``
    (the full context, no tools) is the base the tool methods are compared with.

    Args:
        task: ``"pi-llm"`` or ``"multi-needle"``.
        sizes: Task sizes (see [`pi_llm_items`][ctx_core.eval.tasks.context.pi_llm_items], [`multi_needle_items`][ctx_core.eval.tasks.context.multi_needle_items]).
        methods: Any of ``plain``, ``scripted``, ``agent``.
        trials: Generated instances per size.
        seed: Base seed.
        limit: Stop after this many items (all methods run on each).
        keys_per_task: PI-LLM: keys probed per instance (``None``: all).
        sequential: PI-LLM: key-by-key updates instead of interleaved.
        window_tokens: Fragment size of the scripted policy.
        max_tool_calls: The agent's cap per question.
        agent_max_tokens: Generation limit of each agent reply.
        result_style: How tool results are written into the context: ``"json"`` or ``"text"``.
        batch_size: Items answered together (their model calls are batched).
        data_dir: Data folder (see ``resolve_data_dir``).
        source: PI-LLM: category -> words to use instead of the published dictionary.
        haystack: Multi-needle: filler text to use instead of the essays.
        show_progress: Show a progress bar.
        on_record: Called with each record as soon as it exists (e.g. to log it).

    Attributes:
        primary_metric: ``accuracy`` (per size and method in the results' ``metrics``).
    """

    primary_metric = "accuracy"

    def __init__(
        self,
        task: str,
        *,
        sizes: Sequence[Mapping[str, Any]],
        methods: Sequence[str] = METHODS,
        trials: int = 3,
        seed: int = 0,
        limit: int | None = None,
        keys_per_task: int | None = 2,
        sequential: bool = False,
        window_tokens: int = 200,
        max_tool_calls: int = 20,
        agent_max_tokens: int = 96,
        result_style: str = "json",
        batch_size: int = 8,
        data_dir: str | Path | None = None,
        source: Mapping[str, Sequence[str]] | None = None,
        haystack: str | None = None,
        show_progress: bool = True,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"methods must be among {list(METHODS)}, got {list(methods)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if trials < 1:
            raise ValueError(f"trials must be >= 1, got {trials}")
        self.task = task
        self.sizes = [dict(s) for s in sizes]
        self.methods = list(methods)
        self.trials = trials
        self.seed = seed
        self.limit = limit
        self.keys_per_task = keys_per_task
        self.sequential = sequential
        self.window_tokens = window_tokens
        self.max_tool_calls = max_tool_calls
        self.agent_max_tokens = agent_max_tokens
        self.result_style = result_style
        self.batch_size = batch_size
        self.data_dir = data_dir
        self.source = source
        self.haystack = haystack
        self.show_progress = show_progress
        self.on_record = on_record
        self._items: list[EvalItem] | None = None

    @property
    def items(self) -> list[EvalItem]:
        """The generated items (at most ``limit``)."""
        if self._items is None:
            items: list[EvalItem]
            if self.task == "pi-llm":
                items = list(
                    pi_llm_items(
                        self.sizes,
                        trials=self.trials,
                        seed=self.seed,
                        keys_per_task=self.keys_per_task,
                        sequential=self.sequential,
                        window_tokens=self.window_tokens,
                        data_dir=self.data_dir,
                        source=self.source,
                    )
                )
            else:
                items = list(
                    multi_needle_items(
                        self.sizes,
                        trials=self.trials,
                        seed=self.seed,
                        window_tokens=self.window_tokens,
                        data_dir=self.data_dir,
                        haystack=self.haystack,
                    )
                )
            self._items = items[: self.limit] if self.limit is not None else items
        return self._items

    def __call__(self, llm: LLM) -> dict[str, Any]:
        """Answer every item with every method; metrics by size and method, every record.

        Returns:
            ``{"benchmark": "context", "task", "metrics", "per_item", "config",
            "wall_seconds"}`` ([`write_results`][ctx_core.eval.results.write_results] adds the
            provenance).
        """
        started = time.perf_counter()
        items = self.items
        batch_size, task = self.batch_size, self.task
        records: list[dict[str, Any]] = []
        chunks = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
        jobs = [(chunk, method) for chunk in chunks for method in self.methods]
        for chunk, method in progress(jobs, desc=task, show=self.show_progress, unit="batch"):
            for record in run_items(
                chunk,
                method,
                llm,
                max_tool_calls=self.max_tool_calls,
                agent_max_tokens=self.agent_max_tokens,
                result_style=self.result_style,
            ):
                records.append(record)
                if self.on_record is not None:
                    self.on_record(record)
        config = {
            "task": task,
            "llm": repr(llm),
            "sizes": [dict(s) for s in self.sizes],
            "methods": list(self.methods),
            "trials": self.trials,
            "seed": self.seed,
            "limit": self.limit,
            "keys_per_task": self.keys_per_task if task == "pi-llm" else None,
            "sequential": self.sequential if task == "pi-llm" else None,
            "window_tokens": self.window_tokens,
            "max_tool_calls": self.max_tool_calls,
            "agent_max_tokens": self.agent_max_tokens,
            "result_style": self.result_style,
            "batch_size": batch_size,
            "token_counts": "cl100k_base over message contents; model_prompt_tokens: the LLM's "
            "own tokenizer over the chat-templated prompt",
        }
        return {
            "benchmark": "context",
            "task": task,
            "metrics": summarize_records(records),
            "per_item": records,
            "config": config,
            "wall_seconds": round(time.perf_counter() - started, 1),
        }


def run_context_eval(task: str, llm: LLM, **options: Any) -> dict[str, Any]:
    """``ContextEvaluator(task, **options)(llm)``: run the benchmark and return the results.

    See [`ContextEvaluator`][ctx_core.eval.tasks.context.ContextEvaluator] for the options (``sizes`` is required) and the result.

    Raises:
        TypeError: an option [`ContextEvaluator`][ctx_core.eval.tasks.context.ContextEvaluator] does not take.
    """
    return ContextEvaluator(task, **options)(llm)
