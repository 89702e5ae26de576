"""The end-to-end demo behind ``ctx demo``, on a public-domain book that ships in the package.

The demo is a list of *sections*, each a function of a `DemoContext`:

* `ctx_core.demo.runner` finds the sections and runs them in the order of their names;
* `ctx_core.demo.section` holds `DemoContext`, what every section prints through;
* `ctx_core.demo.book` loads the book and its questions;
* one module per core section: `ctx_core.demo.corpus`, `ctx_core.demo.memory`,
  `ctx_core.demo.incontext`, `ctx_core.demo.structure`,
  `ctx_core.demo.context`.

Framework sections live in the adapter packages and are plugged in through the
``ctx_rag.demo`` entry points; they receive the `DemoContext` as their argument.
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
