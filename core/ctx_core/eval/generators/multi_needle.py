"""Multi-needle reasoning: a kinship chain hidden in long essays; who is the eldest relative?

In the spirit of NeedleBench's multi-needle reasoning task. ``n_needles`` family
statements (2-5) link ``n_needles + 1`` invented people from the eldest down to a
subject ("A is the father of B.", "C's mother is B.", ...). They are inserted at
chosen depths (fractions of the text, at sentence ends) into a haystack cut from
the Paul Graham essays in ``<data dir>/needle-haystack/`` (read at run time, never
shipped), in shuffled order by default. The question asks for the subject's eldest
traceable relative: the first person of the chain.

Examples:
    >>> from ctx_core.eval.generators.multi_needle import generate_multi_needle
    >>> task = generate_multi_needle(3, 400, seed=0, haystack="Filler sentence. " * 300)
    >>> len(task.needles), len(task.chain)
    (3, 4)
    >>> task.answer == task.chain[0] and all(n.text in task.context for n in task.needles)
    True
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets.paths import resolve_data_dir
from ctx_core.tokens import TokenCounter, default_counter

__all__ = [
    "KinshipNeedle",
    "MultiNeedleTask",
    "generate_multi_needle",
    "load_haystack",
    "score_multi_needle",
]

ESSAY_FOLDER = ("needle-haystack", "PaulGrahamEssays")

# Invented first names unlikely to occur in the essays (checked at generation time).
FEMALE = [
    "Ottoline",
    "Marisol",
    "Perpetua",
    "Zenobia",
    "Isolde",
    "Wilhelmina",
    "Araminta",
    "Clementine",
    "Evangeline",
    "Leocadia",
    "Philippa",
    "Seraphina",
    "Theodora",
    "Ursula",
    "Valentina",
    "Winifred",
    "Ximena",
    "Yolanda",
    "Zuleika",
    "Beatrix",
    "Cordelia",
    "Dulcinea",
    "Esmeralda",
    "Fenella",
    "Griselda",
    "Honoria",
    "Imogen",
    "Jessamine",
]
MALE = [
    "Bartholomew",
    "Casimir",
    "Desmond",
    "Evander",
    "Fitzgerald",
    "Gideon",
    "Horatio",
    "Ignatius",
    "Jasper",
    "Leopold",
    "Mortimer",
    "Nathaniel",
    "Octavius",
    "Percival",
    "Quentin",
    "Rupert",
    "Sylvester",
    "Thaddeus",
    "Ulysses",
    "Valentin",
    "Wolfgang",
    "Xavier",
    "Barnaby",
    "Cornelius",
    "Dorian",
    "Ezekiel",
    "Florian",
    "Lysander",
]
SURNAMES = [
    "Abernethy",
    "Blackwood",
    "Castellanos",
    "Drummond",
    "Eastwick",
    "Fairweather",
    "Galbraith",
    "Hollingsworth",
    "Iverson",
    "Jablonski",
    "Kettering",
    "Lindqvist",
    "Montgomery",
    "Nakashima",
    "Okonkwo",
    "Pemberton",
    "Quintero",
    "Rasmussen",
    "Sandoval",
    "Thistlewood",
    "Underhill",
    "Vanterpool",
    "Whitlock",
    "Yamaguchi",
]

# (elder, younger) templates; the elder's role word depends on the elder's gender.
TEMPLATES = [
    "{elder} is the {role} of {younger}.",
    "{younger}'s {role} is {elder}.",
    "{elder} is {younger}'s {role}.",
]
ROLES = {"f": ["mother", "grandmother"], "m": ["father", "grandfather"]}

QUESTION = (
    "The text above mentions, here and there, how some people are related. Following those "
    "family statements, who is the eldest relative of {subject} that can be traced? Reply "
    "with the name only."
)


@dataclass(frozen=True)
class KinshipNeedle:
    """One family statement placed in the haystack.

    Attributes:
        text: The sentence.
        elder: The older person.
        younger: The younger person.
        role: The elder's role (``"father"``, ``"grandmother"``, ...).
        depth: Where it was placed, as a fraction of the haystack (0 = start).
        offset: Character offset of the sentence in the final context.
    """

    text: str
    elder: str
    younger: str
    role: str
    depth: float
    offset: int


@dataclass
class MultiNeedleTask:
    """One generated multi-needle reasoning task.

    Attributes:
        context: The haystack with the needles in it.
        question: The question (asks for the eldest relative of the subject).
        answer: The eldest person of the chain.
        chain: The people from eldest to the subject.
        needles: The statements, in the order they appear in the context.
        context_tokens: Tokens of ``context`` (``cl100k_base`` unless a counter was given).
        seed: The seed it was generated with.
        config: The generation parameters, for results files.
    """

    context: str
    question: str
    answer: str
    chain: list[str]
    needles: list[KinshipNeedle]
    context_tokens: int
    seed: int
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The person the question is about (the youngest of the chain)."""
        return self.chain[-1]

    def prompt(self) -> str:
        """The whole single-message prompt: context, a blank line, the question."""
        return f"{self.context}\n\n{self.question}"


def load_haystack(data_dir: str | Path | None = None) -> list[str]:
    """The essays' texts, sorted by file name."""
    folder = resolve_data_dir(data_dir).joinpath(*ESSAY_FOLDER)
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no essays (*.txt) found in {folder}")
    return [f.read_text(encoding="utf-8") for f in files]


def _people(rng: random.Random, count: int, haystack: str) -> list[tuple[str, str]]:
    """``count`` distinct invented (full name, gender) pairs whose names are not in the haystack."""
    words = set(re.findall(r"[A-Za-z]+", haystack.lower()))
    pool = [(n, "f") for n in FEMALE] + [(n, "m") for n in MALE]
    pool = [(n, g) for n, g in pool if n.lower() not in words]
    surnames = [s for s in SURNAMES if s.lower() not in words]
    picked = rng.sample(pool, count)
    return [(f"{first} {rng.choice(surnames)}", gender) for first, gender in picked]


def _boundary(text: str, target: int) -> int:
    """A sentence end at or after ``target`` (else before it, else ``target``)."""
    ends = [m.end() for m in re.finditer(r"[.!?](?=[\s\"')A-Z]|$)", text)]
    after = [e for e in ends if e >= target]
    if after and after[0] - target <= 600:
        return after[0]
    before = [e for e in ends if e < target]
    return before[-1] if before else target


def generate_multi_needle(
    n_needles: int,
    context_tokens: int,
    *,
    depths: Sequence[float] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    haystack: str | None = None,
    data_dir: str | Path | None = None,
    counter: TokenCounter | None = None,
) -> MultiNeedleTask:
    """Generate one multi-needle reasoning task.

    Args:
        n_needles: Family statements in the chain (2-5).
        context_tokens: Length of the context in tokens (haystack and needles).
        depths: Where to put the needles, as fractions in [0, 1] (one per needle;
            default: evenly spread, ``(i + 1) / (n_needles + 1)``).
        shuffle: Place the statements in random order (else eldest first).
        seed: Random seed: the same arguments and seed give the same task.
        haystack: Filler text to use instead of the essays.
        data_dir: Where ``needle-haystack/`` is (see [`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]).
        counter: Token counter (default ``cl100k_base``).

    Raises:
        ValueError: Bad sizes or depths.
    """
    if isinstance(n_needles, bool) or not isinstance(n_needles, int) or not 2 <= n_needles <= 5:
        raise ValueError(f"n_needles must be an integer from 2 to 5, got {n_needles!r}")
    if isinstance(context_tokens, bool) or not isinstance(context_tokens, int):
        raise ValueError(f"context_tokens must be an integer, got {context_tokens!r}")
    if depths is None:
        depths = [(i + 1) / (n_needles + 1) for i in range(n_needles)]
    depths = [float(d) for d in depths]
    if len(depths) != n_needles or not all(0.0 <= d <= 1.0 for d in depths):
        raise ValueError(f"depths must be {n_needles} fractions in [0, 1], got {depths}")
    counter = counter or default_counter()
    rng = random.Random(seed)

    if haystack is None:
        essays = load_haystack(data_dir)
        start = rng.randrange(len(essays))
        haystack = "\n\n".join(essays[start:] + essays[:start])
    people = _people(rng, n_needles + 1, haystack)
    chain = [name for name, _ in people]
    statements = []
    for (elder, gender), (younger, _) in itertools.pairwise(people):
        role = rng.choice(ROLES[gender])
        template = rng.choice(TEMPLATES)
        statements.append(
            (template.format(elder=elder, younger=younger, role=role), elder, younger, role)
        )
    needle_tokens = sum(counter.count(" " + s[0]) for s in statements)
    budget = context_tokens - needle_tokens
    if budget < 50:
        raise ValueError(
            f"context_tokens={context_tokens} leaves {budget} tokens of haystack for "
            f"{n_needles} needles of {needle_tokens} tokens; ask for at least {needle_tokens + 50}"
        )
    text = counter.truncate(haystack, budget)
    if counter.count(text) < budget:
        raise ValueError(f"the haystack is shorter than {budget} tokens")
    order = list(range(n_needles))
    if shuffle:
        rng.shuffle(order)
    # statement order[i] goes to the i-th depth (depths taken in ascending order)
    placed = sorted(zip(sorted(depths), order, strict=True))
    points = [_boundary(text, int(d * len(text))) for d, _ in placed]
    pieces, cursor = [], 0
    for point, (_, index) in zip(points, placed, strict=True):
        pieces.append(text[cursor:point])
        pieces.append(" " + statements[index][0] + " ")
        cursor = point
    pieces.append(text[cursor:])
    context = "".join(pieces)
    needles = []
    for depth, index in placed:
        sentence, elder, younger, role = statements[index]
        offset = context.index(sentence)
        needles.append(KinshipNeedle(sentence, elder, younger, role, depth, offset))
    question = QUESTION.format(subject=chain[-1])
    config = {
        "n_needles": n_needles,
        "context_tokens": context_tokens,
        "depths": [d for d, _ in placed],
        "shuffle": shuffle,
        "seed": seed,
    }
    return MultiNeedleTask(
        context, question, chain[0], chain, needles, counter.count(context), seed, config
    )


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text).split()).casefold()


def _mentions(segment: str, name: str) -> bool:
    """Whether ``segment`` names the person (full name, or the unique first name)."""
    padded = f" {segment} "
    return f" {_norm(name)} " in padded or f" {_norm(name.split()[0])} " in padded


def score_multi_needle(task: MultiNeedleTask, reply: str) -> dict[str, Any]:
    """Whether ``reply`` names the eldest relative.

    The text after a final ``Answer:`` is used when present, else the whole reply.
    Correct when it names the answer (full name or first name) and no other person of
    the chain except the subject.

    Returns:
        ``{"correct": bool, "named": [people of the chain named in the reply]}``.
    """
    parts = re.split(r"answer\s*:", reply, flags=re.IGNORECASE)
    segment = _norm(parts[-1])
    named = [name for name in task.chain if _mentions(segment, name)]
    others = [n for n in named if n not in (task.answer, task.subject)]
    return {"correct": task.answer in named and not others, "named": named}
