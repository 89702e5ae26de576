"""``ctx eval-context``: the top-level form of ``ctx eval context`` (same options)."""

from __future__ import annotations

from typing import Any

from ctx_core.cli import eval_context


def register(subparsers: Any) -> None:
    """Add the ``eval-context`` command."""
    eval_context.register(subparsers, name="eval-context")
