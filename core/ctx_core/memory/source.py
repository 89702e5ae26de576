"""Checking document text before a memory is built from it.

Examples:
    >>> from ctx_core.memory.source import check_document
    >>> check_document("Plain text.")
    'Plain text.'
    >>> check_document("Café".encode("utf-8"))
    'Café'
    >>> check_document(b"\\xff\\xfe binary")
    Traceback (most recent call last):
    ...
    ValueError: document is not valid UTF-8 text (byte 0xff at offset 0); decode it to str first
"""

from __future__ import annotations

__all__ = ["check_document"]

# Share of control characters (other than tab, newline, carriage return, form feed)
# above which a text is taken for binary data.
_MAX_CONTROL_SHARE = 0.05
_ALLOWED_CONTROLS = {"\t", "\n", "\r", "\f", "\v"}


def check_document(document: object, argument: str = "document") -> str:
    """Return ``document`` as a ``str`` fit for memory extraction, or raise a clear error.

    ``bytes`` are decoded as strict UTF-8. Text is never changed: no stripping, no
    normalization, so chunk offsets point into exactly what the caller gave.

    Raises:
        TypeError: ``document`` is neither ``str`` nor ``bytes``.
        ValueError: it is empty or whitespace only, not valid UTF-8, or binary data
            (NUL bytes, many control characters, unpaired surrogates).
    """
    if isinstance(document, (bytes, bytearray, memoryview)):
        raw = bytes(document)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{argument} is not valid UTF-8 text (byte 0x{raw[err.start]:02x} at offset "
                f"{err.start}); decode it to str first"
            ) from err
    elif isinstance(document, str):
        text = document
    else:
        raise TypeError(f"{argument} must be a str or UTF-8 bytes, got {type(document).__name__}")
    if not text.strip():
        raise ValueError(f"{argument} is empty (no text besides whitespace)")
    if "\x00" in text:
        raise ValueError(f"{argument} looks like binary data (it contains NUL characters)")
    controls = sum(1 for ch in text if ch < " " and ch not in _ALLOWED_CONTROLS)
    if controls > _MAX_CONTROL_SHARE * len(text):
        raise ValueError(
            f"{argument} looks like binary data ({controls} control characters in "
            f"{len(text)}); give text"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{argument} is not valid text: unpaired surrogate at offset {err.start} "
            "(was it decoded with errors='surrogateescape'?)"
        ) from err
    return text
