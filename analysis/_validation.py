"""Input checks shared by every public function.

scipy.stats style: a ``ValueError`` whose message names the offending argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

_Label = TypeVar("_Label", bound=np.generic)


def as_float_vector(
    values: ArrayLike, name: str, *, allow_nan: bool = False
) -> NDArray[np.float64]:
    """Return ``values`` as a 1-D float array, raising ``ValueError`` naming ``name``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"`{name}` must be numeric: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"`{name}` must not be empty")
    if not allow_nan and not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return array


def as_label_vector(values: ArrayLike, name: str) -> NDArray[np.generic]:
    """Return ``values`` as a 1-D array of labels (any dtype), rejecting NaN labels."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise ValueError(f"`{name}` contains NaN labels")
    if array.dtype.kind == "O" and any(v is None for v in array):
        raise ValueError(f"`{name}` contains missing (None) labels")
    return array


def check_same_length(
    reference: int, **arrays: Sequence[object] | NDArray[np.generic] | None
) -> None:
    """Raise ``ValueError`` if any given array's length differs from ``reference``."""
    for name, array in arrays.items():
        if array is not None and len(array) != reference:
            raise ValueError(
                f"`{name}` has length {len(array)}, expected {reference} (length of `y`)"
            )


def check_weights(
    weights: ArrayLike | None, size: int, name: str = "weights"
) -> NDArray[np.float64]:
    """Validate survey weights: finite, non-negative, not all zero; ones when ``None``."""
    if weights is None:
        return np.ones(size)
    array = as_float_vector(weights, name, allow_nan=True)
    low, high = float(array.min()), float(array.max())  # NaN if any is NaN
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"`{name}` contains NaN or infinite values")
    check_same_length(size, **{name: array})
    if low < 0:
        raise ValueError(f"`{name}` must be non-negative")
    if not high > 0:
        raise ValueError(f"`{name}` are all zero")
    return array


def check_confidence_level(confidence_level: float) -> float:
    """Return ``confidence_level`` as float after checking it lies strictly in (0, 1)."""
    try:
        level = float(confidence_level)
    except (TypeError, ValueError):
        raise ValueError("`confidence_level` must be a number in (0, 1)") from None
    if not 0.0 < level < 1.0:
        raise ValueError(f"`confidence_level` must be in (0, 1), got {confidence_level!r}")
    return level


def factorize(labels: NDArray[_Label]) -> tuple[NDArray[_Label], NDArray[np.intp]]:
    """Return (sorted unique labels, integer code per element)."""
    if labels.dtype.kind in "iub" and labels.size:
        low, high = int(labels.min()), int(labels.max())
        if high - low < 4 * labels.size + 1024:
            offset = np.subtract(labels, low)  # integer or bool labels (dtype kind checked)
            present = np.zeros(high - low + 1, dtype=bool)
            present[offset] = True
            present_values = np.flatnonzero(present) + low
            lookup = np.cumsum(present) - 1
            return present_values.astype(labels.dtype), lookup[offset].astype(np.intp)
    uniques, codes = np.unique(labels, return_inverse=True)
    return uniques, codes.reshape(-1).astype(np.intp)


def plain(label: object) -> object:
    """A numpy scalar as the equivalent Python value (for messages and dict keys)."""
    item = getattr(label, "item", None)
    return item() if callable(item) else label
