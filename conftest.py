"""Collection rules for the whole repository (the doctests of core/ and packages/ included)."""

import importlib.util

# The Triton kernels import triton at module level; without the gpu extra there is nothing
# to collect there (the module has no doctests, and the kernel tests skip on their own).
collect_ignore = (
    []
    if importlib.util.find_spec("triton")
    else ["core/ctx_core/incontext/backends/triton_kernels.py"]
)
