"""Two fixes to Triton's CPU interpreter, applied by the tests that run the kernels on a CPU.

Triton's interpreter (``TRITON_INTERPRET=1``) runs the ``triton`` backend's kernels in numpy,
which is how they are checked without a GPU. Two of its bugs stop them there; the compiled
kernels on CUDA never meet either, so the library leaves the interpreter alone and the tests
(and the CPU dry run of ``benchmarks/incontext_gpu.py``) call :func:`patch_interpreter`:

* Scalars are 1-element arrays there, converted with ``int(array)``, which numpy 2 refuses
  for arrays of one dimension: loop bounds loaded from memory failed.
* bf16 is stored as ``uint16`` and ``tl.dot`` multiplied those integers: bf16 dot products
  are widened to float32 first (exact: a bf16 is the top half of a float32).

Import it after ``TRITON_INTERPRET=1`` is set (Triton reads it when first imported).
"""

from __future__ import annotations

from typing import Any

__all__ = ["patch_interpreter"]


def patch_interpreter() -> None:
    """Patch Triton's interpreter in place (once; later calls do nothing)."""
    import numpy as np
    from triton.runtime import interpreter

    if getattr(interpreter, "_ctx_patched", False):
        return
    original = interpreter._patch_lang_tensor

    def patched(tensor: Any, scope: Any) -> None:
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    interpreter._patch_lang_tensor = patched
    builder = interpreter.InterpreterBuilder
    create_dot = builder.create_dot

    def widen(handle: Any) -> Any:
        if getattr(handle.dtype, "name", "") != "bf16":
            return handle
        data = (handle.data.astype(np.uint32) << 16).view(np.float32)
        return interpreter.TensorHandle(data, interpreter.tl.float32)

    def dot(self: Any, a: Any, b: Any, d: Any, *args: Any) -> Any:
        return create_dot(self, widen(a), widen(b), d, *args)

    builder.create_dot = dot
    interpreter._ctx_patched = True
