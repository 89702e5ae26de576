"""The end-to-end demo behind ``ctx demo``, on a public-domain book that ships in the package.

The demo is a list of *sections*, each a function of a :class:`DemoContext`:

* :mod:`~ctx_core.demo.runner` finds the sections and runs them in the order of their names;
* :mod:`~ctx_core.demo.section` holds :class:`DemoContext`, what every section prints through;
* :mod:`~ctx_core.demo.book` loads the book and its questions;
* one module per core section: :mod:`~ctx_core.demo.corpus`, :mod:`~ctx_core.demo.memory`,
  :mod:`~ctx_core.demo.incontext`, :mod:`~ctx_core.demo.structure`,
  :mod:`~ctx_core.demo.context`.

Framework sections live in the adapter packages and are plugged in through the
``ctx_rag.demo`` entry points; they receive the :class:`DemoContext` as their argument.
Only the command line imports this package: no feature imports the demo.
"""

from ctx_core.demo.runner import demo_sections, run_demo
from ctx_core.demo.section import DemoContext, Section

__all__ = [
    "DemoContext",
    "Section",
    "demo_sections",
    "run_demo",
]
