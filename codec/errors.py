"""Exceptions and warnings the codec raises on purpose."""


class CodecError(ValueError):
    """Bad input: an image or a request the codec cannot honour."""


class FormatError(CodecError):
    """A compressed file is malformed, truncated, corrupted or made by another model."""


class DecompressionBombError(FormatError):
    """A file claims more pixels than the decoder's limit (``max_pixels``); nothing was decoded."""


class CodecWarning(UserWarning):
    """Lossy input conversions (alpha dropped, 16-bit reduced to 8-bit, ...)."""
