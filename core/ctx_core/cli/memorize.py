"""``ctx memorize``: build document memories of text files into a memory index (SQLite).

A file's doc id is its absolute path with symbolic links, ``.`` and ``..`` resolved
(``e1.txt``, ``./dir/e1.txt`` and ``/home/me/dir/e1.txt`` are one document), so a file
memorized again from another folder or spelled another way replaces its memory. A memory
that an earlier version saved under the path as typed is replaced by the resolved one
when that file is memorized again.

Several ``ctx memorize`` runs may write into one ``--memory`` file at once: each saves only
its own documents, in one locked transaction (see [`ctx_core.memory.store`][ctx_core.memory.store]).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ctx_core.memory.base import MemoryExtractorLike, check_document
from ctx_core.memory.extractor import DEFAULT_PATHS
from ctx_core.memory.store import count_documents
from ctx_core.progress import progress

DEFAULT_MEMORY = "memory.sqlite"


def register(subparsers: Any) -> None:
    """Add the ``memorize`` command."""
    parser = subparsers.add_parser(
        "memorize",
        help="build document memories of text files into a memory index",
        description=(
            "Build a document memory (outline, scenario chunks, core contents) of each FILE and "
            "add it to the memory index at --memory (an SQLite file, created or updated; a file "
            "memorized again replaces its earlier memory). Query it with `ctx ask`."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="UTF-8 text files")
    parser.add_argument(
        "--memory",
        "-m",
        default=DEFAULT_MEMORY,
        help=f"memory index file (default: {DEFAULT_MEMORY})",
    )
    add_extractor_arguments(parser)
    parser.add_argument(
        "--candidates",
        type=int,
        default=len(DEFAULT_PATHS),
        help=f"candidate memories per window for --extractor llm (1-{len(DEFAULT_PATHS)})",
    )
    parser.add_argument(
        "--embedder", default=None, help="embedding model id or path (default: MiniLM)"
    )
    parser.add_argument("--max-words", type=int, default=150, help="longest chunk in words")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    parser.set_defaults(func=run)


def add_extractor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--extractor`` and ``--llm``, shared by ``ctx memorize`` and ``ctx batch memorize``."""
    parser.add_argument(
        "--extractor",
        choices=["heuristic", "llm"],
        default="heuristic",
        help="heuristic (no LLM, default) or llm (MoM extraction with candidate selection)",
    )
    parser.add_argument(
        "--llm", default=None, help="LLM id or path for --extractor llm (default: smollm2)"
    )


def document_id(name: str) -> str:
    """The doc id of the file ``name``: its absolute path, links and ``..`` resolved."""
    return str(Path(name).resolve())


def read_files(names: list[str]) -> list[tuple[str, str]]:
    """``(doc_id, text)`` for each file (ids from `document_id`); errors name the file."""
    documents = []
    for name in names:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{name!r}: no such file")
        try:
            text = check_document(path.read_bytes(), argument=f"file {name!r}")
        except ValueError as err:
            raise ValueError(str(err)) from err
        documents.append((document_id(name), text))
    ids = [doc_id for doc_id, _ in documents]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"file {repeated[0]!r} is named twice")
    return documents


def build_extractor(args: argparse.Namespace, embedder: Any) -> MemoryExtractorLike:
    """The extractor the options ask for."""
    if args.extractor == "heuristic":
        from ctx_core.memory.heuristic import HeuristicMemoryExtractor

        return HeuristicMemoryExtractor(
            embedder, max_words=args.max_words, min_words=min(30, args.max_words)
        )
    if not 1 <= args.candidates <= len(DEFAULT_PATHS):
        raise ValueError(f"--candidates must be between 1 and {len(DEFAULT_PATHS)}")
    from ctx_core.llm import TransformersLLM
    from ctx_core.memory.extractor import MemoryExtractor

    return MemoryExtractor(
        TransformersLLM(args.llm),
        embedder=embedder,
        paths=DEFAULT_PATHS[: args.candidates],
        max_words=args.max_words,
    )


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx memorize``."""
    from ctx_core.memory.index import MemoryIndex

    if args.max_words < 1:
        raise ValueError("--max-words must be >= 1")
    documents = read_files(args.files)
    typed = dict(zip((doc_id for doc_id, _ in documents), args.files, strict=True))
    target = Path(args.memory)
    if target.exists():
        index = MemoryIndex.load(target, embedder=args.embedder)
    else:
        index = MemoryIndex(args.embedder)
    extractor = build_extractor(args, index.embedder)
    memories = []
    for doc_id, text in progress(documents, desc="memorizing", show=not args.quiet, unit="doc"):
        memories.append(extractor.extract(text, doc_id=doc_id, metadata={"source": doc_id}))
    replaced = {m.doc_id: "" for m in memories if m.doc_id in index}
    for memory in memories:
        # Earlier versions kept the path as typed: that memory is this file's old one.
        legacy = str(Path(typed[memory.doc_id]))
        if legacy != memory.doc_id and legacy in index:
            index.remove(legacy)
            replaced[memory.doc_id] = f" (was {legacy!r})"
    index.add_many(memories, replace=True)
    # Merges: documents other runs saved into the file meanwhile are kept.
    index.save(target)
    if not args.quiet:
        for memory in memories:
            state = "updated" + replaced[memory.doc_id] if memory.doc_id in replaced else "added"
            print(
                f"{memory.doc_id}: {state}, {len(memory.chunks)} chunks, "
                f"{len(memory.outline)} outline entries",
                file=sys.stderr,
            )
        print(f"memory index {target}: {count_documents(target)} documents", file=sys.stderr)
    return 0
