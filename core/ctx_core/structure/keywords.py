"""Key phrases for naming scopes and aspects without an LLM.

Candidate phrases are runs of one to three content words inside a sentence (a
stop word, a number-only token or punctuation ends a run). A phrase's weight in a
group of sentences is its count there times how specific it is to that group
across the document (a class-based TF-IDF), with longer phrases preferred a
little. Names keep the phrase's most common spelling in the text.

Examples:
    >>> from ctx_core.structure.keywords import key_phrases, join_phrases
    >>> groups = [["The wing lift rises.", "Lift on the wing grows."],
    ...           ["The boundary layer thickens.", "A thick boundary layer separates."]]
    >>> [join_phrases(p) for p in key_phrases(groups, top=1)]
    ['Wing', 'Boundary layer']
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["STOPWORDS", "join_phrases", "key_phrases", "phrases", "weighted_phrases"]

STOPWORDS = frozenset(
    """
    a about above according across after afterwards again against all almost alone along already
    also although always am among an and another any anyone anything are around as at away be
    became because become becomes been before being below besides between beyond both but by can
    cannot could did do does doing done down due during each either else enough even ever every
    few first for former from further get gets given got had has have having he her here hers
    herself him himself his how however i if in indeed into is it its itself just last least
    less like made make many may me meanwhile might more most mostly much must my myself namely
    neither never nevertheless next no nobody none nor not nothing now of off often on once one
    only onto or other others otherwise our ours ourselves out over own per perhaps quite rather
    really said same say says second seem seemed seems several she should since so some someone
    something sometime sometimes still such than that the their theirs them themselves then there
    thereby therefore these they this those though through throughout thus to together too toward
    towards under until up upon us used using very via was we well were what whatever when whence
    whenever where whereas whether which while who whoever whole whom whose why will with within
    without would yet you your yours yourself yourselves
    mr mrs ms dr sir miss madam mme prof st
    went come came go goes going gone get getting took take takes taken give gave told tell tells
    asked ask know knew known think thought see saw seen look looked looking seem want wanted
    put let keep kept find found felt feel left leave turned turn began begin became show showed
    shown called call tried try use uses yes oh ah well quite just really rather still already
    thing things way ways time times day days lot lots kind sort part
    i'm i've i'd i'll it's that's there's don't didn't doesn't isn't wasn't can't won't couldn't
    shouldn't wouldn't he's she's let's we're they're you're
    """.split()  # noqa: SIM905
)

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\u2019\-]*|[^\sA-Za-z0-9]")
_POSSESSIVE = re.compile(r"['\u2019]s?$")

Phrase = tuple[str, ...]


def phrases(sentence: str, max_words: int = 3) -> list[tuple[Phrase, str]]:
    """Candidate phrases of ``sentence``: ``(lower-case words, spelling in the text)`` pairs.

    Examples:
        >>> [p[1] for p in phrases("The propeller slipstream of a wing.")]
        ['propeller', 'propeller slipstream', 'slipstream', 'wing']
    """
    return [(key, spelling) for key, spelling, _ in _phrases(sentence, max_words)]


def _phrases(sentence: str, max_words: int = 3) -> list[tuple[Phrase, str, bool]]:
    """Like [`phrases`][ctx_core.structure.keywords.phrases], with a flag: the phrase starts the sentence (capitals prove nothing)."""
    runs: list[list[str]] = [[]]
    starts: list[int] = []
    for match in _TOKEN.finditer(sentence):
        token = _POSSESSIVE.sub("", match.group()).strip("-")
        lower = token.lower()
        content = (
            token
            and token[0].isalnum()
            and lower not in STOPWORDS
            and not token[0].isdigit()
            and (len(lower) >= 3 or token.isupper())
        )
        if content:
            if not runs[-1]:
                starts.append(match.start())
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    first = len(sentence) - len(sentence.lstrip(" \t\n\"'\u201c\u2018(*#-"))
    found: list[tuple[Phrase, str, bool]] = []
    for run, start in zip([r for r in runs if r], starts, strict=True):
        for i in range(len(run)):
            for n in range(1, max_words + 1):
                if i + n > len(run):
                    break
                words = run[i : i + n]
                initial = i == 0 and start <= first
                found.append((tuple(w.lower() for w in words), " ".join(words), initial))
    return found


def key_phrases(
    groups: Sequence[Sequence[str]],
    *,
    top: int = 2,
    exclude: Sequence[Phrase] = (),
    min_ratio: float = 0.6,
) -> list[list[str]]:
    """The ``top`` most characteristic phrases of each group of sentences.

    Args:
        groups: One list of sentences per group (e.g. per aspect).
        top: Phrases per group; a phrase that overlaps a better one in the same
            group (shares a word) is skipped.
        exclude: Phrases (lower-case word tuples) whose words never to use again, e.g.
            the scope's.
        min_ratio: A phrase after the first is kept only when it weighs at least
            this share of the first one.

    Returns:
        For each group, up to ``top`` phrases in their most common spelling.
    """
    result = []
    for scored in weighted_phrases(groups, exclude=exclude):
        chosen: list[tuple[Phrase, str]] = []
        best = scored[0][0] if scored else 0.0
        for weight, key, spelling in scored:
            if weight < min_ratio * best:
                break
            if any(set(key) & set(other) for other, _ in chosen):
                continue
            chosen.append((key, spelling))
            if len(chosen) == top:
                break
        result.append([spelling for _, spelling in chosen])
    return result


def weighted_phrases(
    groups: Sequence[Sequence[str]], *, exclude: Sequence[Phrase] = ()
) -> list[list[tuple[float, Phrase, str]]]:
    """Every candidate phrase of each group with its weight, best first.

    The weight is the class-based TF-IDF described in the module docs; each phrase
    comes with its most common spelling. [`key_phrases`][ctx_core.structure.keywords.key_phrases]
    picks from these; so does the embedding-based namer of
    [`ctx_core.structure.keyphrases`][ctx_core.structure.keyphrases].

    Examples:
        >>> [s for _, _, s in weighted_phrases([["Wing lift. Wing drag."]])[0][:3]]
        ['Wing', 'Wing lift', 'Wing drag']
    """
    counts: list[Counter[Phrase]] = []
    spellings: dict[Phrase, Counter[str]] = {}
    names: Counter[Phrase] = Counter()  # capitalized away from a sentence start
    for group in groups:
        counter: Counter[Phrase] = Counter()
        for sentence in group:
            for key, spelling, initial in _phrases(sentence):
                counter[key] += 1
                spellings.setdefault(key, Counter())[spelling] += 1
                if not initial and _is_name(spelling):
                    names[key] += 1
        counts.append(counter)
    document_frequency: Counter[Phrase] = Counter()
    for counter in counts:
        document_frequency.update(counter.keys())
    excluded_words = {word for phrase in exclude for word in phrase}
    n_groups = len(groups)
    result = []
    for counter in counts:
        scored = []
        for key, count in counter.items():
            if excluded_words & set(key):
                continue
            idf = math.log((1 + n_groups) / (1 + document_frequency[key])) + 1.0
            # Longer phrases count more, but a multi-word phrase seen once is weak evidence.
            length_bonus = 1.0 + 0.6 * (len(key) - 1) * (1.0 if count > 1 else 0.5)
            name_bonus = 1.3 if names[key] else 1.0
            weight = count * idf * length_bonus * name_bonus
            scored.append((weight, len(key), -_first_seen(key, counter), key))
        scored.sort(reverse=True)
        result.append(
            [(weight, key, spellings[key].most_common(1)[0][0]) for weight, _, _, key in scored]
        )
    return result


def _is_name(spelling: str) -> bool:
    """Every word capitalized, not shouted: ``Meet Corliss Archer``, ``Paris``."""
    return all(w[0].isupper() for w in spelling.split()) and not spelling.isupper()


def _first_seen(key: Phrase, counter: Counter[Phrase]) -> int:
    # Counters keep insertion order: an earlier phrase wins ties.
    for position, other in enumerate(counter):
        if other == key:
            return position
    return len(counter)


def join_phrases(items: Sequence[str], fallback: str = "Overview") -> str:
    """Join phrases into a heading: ``"A"``, ``"A and B"``, ``"A, B and C"`` (first letter upper-cased).

    Examples:
        >>> join_phrases(["lift", "drag", "thrust"]), join_phrases([])
        ('Lift, drag and thrust', 'Overview')
    """
    items = [i for i in items if i]
    if not items:
        return fallback
    text = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return text[0].upper() + text[1:]
