"""PI-LLM: proactive-interference key-value tracking, generated from the published word lists.

After "Unable to Forget: Proactive Interference Reveals Working Memory Limits in LLMs
Beyond Context Length" (Wang and Sun, 2025). A stream of ``key: value`` updates
is shown, each of ``n_keys`` keys (categories such as *bird* or *dessert*) taking
``n_updates`` different values from its word list; the question asks for each
key's current (last) value. Updates are interleaved at random (keeping each key's
own order) or presented key by key (``sequential=True``). The source dictionary
(46 categories x 400 words, MIT licence) is read at run time from
``<data dir>/pi-llm/``; nothing of it ships in this package.

The prompt follows the paper's structure (a tracking instruction naming the keys,
the stream on the next line, then the question with a fixed answer format), in our
own words. Scoring is exact match of each key's last value after light normalization.

Examples:
    >>> from ctx_core.eval.generators.pi_llm import generate_pi_llm, score_pi_llm
    >>> source = {"bird": ["kea", "emu", "rook"], "fruit": ["fig", "lime", "date"]}
    >>> task = generate_pi_llm(2, 3, seed=1, source=source)
    >>> sorted(task.answers) == ["bird", "fruit"]
    True
    >>> reply = "\\n".join(f"The current value of {k} is {v}." for k, v in task.answers.items())
    >>> score_pi_llm(task, reply)["accuracy"]
    1.0
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.paths import resolve_data_dir

__all__ = [
    "SOURCE_FILE",
    "PILLMTask",
    "generate_pi_llm",
    "load_pi_llm_source",
    "normalize_value",
    "parse_pi_llm_answer",
    "score_pi_llm",
]

SOURCE_FILE = "dict_category_double-word_46-400_v1-1.json"

INSTRUCTION = (
    "Act as my assistant and read the stream of text below carefully. In it, the values of "
    "several keys are updated again and again. The {n} keys to keep track of are: {keys}. "
    "Afterwards I will ask you for the value each key holds now.\n\n"
    "The stream begins on the next line.\n"
)
QUESTION_ALL = (
    "What is the current value of each key you are tracking ({keys})? Finish your reply "
    "with one line per key: 'The current value of <key> is <value>.'"
)
QUESTION_ONE = (
    "What is the current value of {key}, that is, the last value given to {key} in the "
    "stream? Reply with: 'The current value of {key} is <value>.'"
)

_ANSWER = re.compile(r"current value of\s+(.+?)\s+is\s*:?\s*(.+)", re.IGNORECASE)


@dataclass
class PILLMTask:
    """One generated PI-LLM prompt with its answers.

    Attributes:
        keys: The tracked keys, in the order the instruction names them.
        updates: The stream, as ``(key, value)`` pairs in order.
        answers: Each key's last value.
        context: The instruction and the stream (the long part of the prompt).
        n_updates: Updates per key.
        sequential: Whether updates come key by key instead of interleaved.
        seed: The seed it was generated with.
        config: The generation parameters, for results files.
    """

    keys: list[str]
    updates: list[tuple[str, str]]
    answers: dict[str, str]
    context: str
    n_updates: int
    sequential: bool
    seed: int
    config: dict[str, Any] = field(default_factory=dict)

    def question(self, key: str | None = None) -> str:
        """The question for one key, or for all keys (``key=None``, as in the paper)."""
        if key is None:
            return QUESTION_ALL.format(keys=", ".join(self.keys))
        if key not in self.answers:
            raise ValueError(f"key {key!r} is not tracked; keys: {self.keys}")
        return QUESTION_ONE.format(key=key)

    def prompt(self, key: str | None = None) -> str:
        """The whole single-message prompt: context, a blank line, the question."""
        return f"{self.context}\n\n{self.question(key)}"

    def previous_values(self, key: str) -> list[str]:
        """The values ``key`` held before its last one (the interference)."""
        values = [v for k, v in self.updates if k == key]
        return values[:-1]


def load_pi_llm_source(data_dir: str | Path | None = None) -> dict[str, list[str]]:
    """The category -> words dictionary from ``<data dir>/pi-llm/``."""
    path = resolve_data_dir(data_dir) / "pi-llm" / SOURCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"PI-LLM source dictionary not found at {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{path} is not a mapping of category -> list of words")
    return {str(k): [str(w) for w in v] for k, v in data.items()}


def generate_pi_llm(
    n_keys: int,
    n_updates: int,
    *,
    sequential: bool = False,
    seed: int = 0,
    source: Mapping[str, Sequence[str]] | None = None,
    data_dir: str | Path | None = None,
) -> PILLMTask:
    """Generate one PI-LLM task.

    Args:
        n_keys: Number of tracked keys (categories), at most the number in the source (46).
        n_updates: Values each key takes in the stream (>= 1; at most the words per category).
        sequential: Present each key's updates together, key after key, instead of
            interleaving all updates at random.
        seed: Random seed: the same arguments and seed give the same task.
        source: Category -> words mapping (default: the PI-LLM dictionary from ``data_dir``).
        data_dir: Where ``pi-llm/`` is (see [`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]).

    Raises:
        ValueError: Sizes out of range for the source.
    """
    for name, value in (("n_keys", n_keys), ("n_updates", n_updates)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    words = dict(source) if source is not None else load_pi_llm_source(data_dir)
    categories = sorted(words)
    if n_keys > len(categories):
        raise ValueError(f"n_keys={n_keys} exceeds the {len(categories)} categories of the source")
    rng = random.Random(seed)
    keys = rng.sample(categories, n_keys)
    values: dict[str, list[str]] = {}
    for key in keys:
        pool = list(dict.fromkeys(words[key]))  # distinct words, first-seen order
        if n_updates > len(pool):
            raise ValueError(
                f"n_updates={n_updates} exceeds the {len(pool)} distinct words of {key!r}"
            )
        values[key] = rng.sample(pool, n_updates)
    if sequential:
        order = [key for key in keys for _ in range(n_updates)]
    else:
        order = [key for key in keys for _ in range(n_updates)]
        rng.shuffle(order)  # each key's own values keep their order below
    position = dict.fromkeys(keys, 0)
    updates: list[tuple[str, str]] = []
    for key in order:
        updates.append((key, values[key][position[key]]))
        position[key] += 1
    answers = {key: values[key][-1] for key in keys}
    stream = "".join(f"{k}: {v}; " for k, v in updates).rstrip()
    context = INSTRUCTION.format(n=n_keys, keys=", ".join(keys)) + stream
    config = {
        "n_keys": n_keys,
        "n_updates": n_updates,
        "sequential": sequential,
        "seed": seed,
    }
    return PILLMTask(keys, updates, answers, context, n_updates, sequential, seed, config)


def normalize_value(text: str) -> str:
    """Case-folded, with quotes, markdown emphasis, trailing punctuation and extra spaces removed."""
    text = text.strip().strip("*_`\"'“”‘’ ")
    text = re.sub(r"[.;,!?]+$", "", text).strip().strip("*_`\"'“”‘’ ")
    return " ".join(text.split()).casefold()


def parse_pi_llm_answer(reply: str, keys: Sequence[str]) -> dict[str, str | None]:
    """Each key's value as stated in ``reply`` (``'The current value of <key> is <value>.'``).

    The last statement for a key wins. With a single key and no such statement, the
    reply's first non-empty line is taken as the value.
    """
    by_norm = {normalize_value(k): k for k in keys}
    found: dict[str, str | None] = dict.fromkeys(keys)
    for line in reply.splitlines():
        match = _ANSWER.search(line)
        if match is None:
            continue
        key = by_norm.get(normalize_value(match.group(1)))
        if key is not None:
            found[key] = match.group(2).strip()
    if len(keys) == 1 and found[keys[0]] is None:
        lines = [line for line in reply.splitlines() if line.strip()]
        if lines:
            found[keys[0]] = lines[0].strip()
    return found


def score_pi_llm(task: PILLMTask, reply: str, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Exact-match score of ``reply`` for ``keys`` (default: all keys of the task).

    Returns:
        ``{"accuracy": float, "per_key": {key: {"predicted", "expected", "correct",
        "stale"}}}``, where ``stale`` marks a value the key held earlier (interference).
    """
    asked = list(task.keys if keys is None else keys)
    for key in asked:
        if key not in task.answers:
            raise ValueError(f"key {key!r} is not tracked; keys: {task.keys}")
    parsed = parse_pi_llm_answer(reply, asked)
    per_key: dict[str, dict[str, Any]] = {}
    for key in asked:
        predicted = parsed[key]
        norm = normalize_value(predicted) if predicted is not None else None
        expected = task.answers[key]
        per_key[key] = {
            "predicted": predicted,
            "expected": expected,
            "correct": norm == normalize_value(expected),
            "stale": norm in {normalize_value(v) for v in task.previous_values(key)},
        }
    accuracy = sum(bool(v["correct"]) for v in per_key.values()) / len(asked) if asked else 0.0
    return {"accuracy": accuracy, "per_key": per_key}
