"""Named errors. Every error facewidget raises on purpose is a :class:`FacewidgetError`.

Callers can catch the base class, or a specific subclass to react to one kind of bad input.
Messages say what was wrong and, where there is one, what to do about it.
"""

from __future__ import annotations


class FacewidgetError(Exception):
    """Base class of every error raised on purpose by facewidget."""


# --- images -------------------------------------------------------------------------------


class ImageError(FacewidgetError, ValueError):
    """An image could not be used."""


class UnreadableImageError(ImageError):
    """The bytes or file are not an image any decoder understands, or the file cannot be read."""


class TruncatedImageError(UnreadableImageError):
    """The image file ends before its data does (an interrupted download or copy)."""


class UnsupportedImageModeError(ImageError):
    """The image has a pixel format, dtype or layout facewidget does not convert."""


class EmptyImageError(ImageError):
    """The image has no pixels (a zero-sized dimension)."""


class NonFiniteImageError(ImageError):
    """A floating-point image contains NaN or infinity."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the configured limit (protects against decompression bombs)."""


# --- faces --------------------------------------------------------------------------------


class NoFaceError(FacewidgetError, LookupError):
    """No face was found where one is needed."""


# --- shapes and arguments -----------------------------------------------------------------


class ShapeError(FacewidgetError, ValueError):
    """An array or tensor has the wrong shape or dtype for the function it was given to."""


class ParameterError(FacewidgetError, ValueError):
    """A function was given an argument value it does not accept.

    The message names the parameter, the value given and what is allowed; the same three are kept
    as attributes so callers (and views) can react without parsing text. It subclasses ValueError so
    code that caught ValueError before keeps working.
    """

    def __init__(self, name: str, value: object, allowed: str, *, message: str | None = None):
        self.name = name
        self.value = value
        self.allowed = allowed
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(message or f"{name}={shown} is not allowed: {name} must be {allowed}")


# --- assets -------------------------------------------------------------------------------


class AssetError(FacewidgetError, RuntimeError):
    """A model file or sample could not be obtained or failed verification."""


class AssetUnavailableError(AssetError):
    """No source of an asset could be reached (offline, or the registry refused)."""


class AssetIntegrityError(AssetError):
    """A downloaded or supplied asset does not have the expected sha256."""


# --- models -------------------------------------------------------------------------------


class ModelError(FacewidgetError, ValueError):
    """A model file or checkpoint does not match what it claims to be."""


class UnsupportedOperationError(FacewidgetError, TypeError):
    """The operation needs something the model cannot give (e.g. gradients of a black-box model)."""


class MissingExtraError(FacewidgetError, ImportError):
    """An optional dependency is not installed; the message names the extra (or package) to install."""


class CancelledError(FacewidgetError):
    """A long computation was cancelled by its caller."""
