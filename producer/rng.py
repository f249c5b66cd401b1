"""Counter-based randomness: every random number is a pure function of (seed, index, field).

Conversation ``k`` of a dataset never depends on conversations before it, so any process can
generate any index range and the union equals a single-process run. The hash is SplitMix64's
finaliser, vectorised with numpy over a block of indices at once (one call per block, not per
record), which is what keeps generation fast.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

__all__ = ["Uniforms", "seed_key", "uniforms", "words"]

Uniforms = npt.NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_FIELD = np.uint64(0xD1B54A32D192ED03)


def seed_key(*parts: object) -> int:
    """A 64-bit key from the parameters that define a dataset (stable across runs and hosts)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


def words(key: int, indices: npt.NDArray[np.int64], fields: int) -> npt.NDArray[np.uint64]:
    """``(len(indices), fields)`` uniformly distributed 64-bit words."""
    idx = indices.astype(np.uint64)[:, None]
    field = np.arange(fields, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        x = np.uint64(key) + (idx + np.uint64(1)) * _GOLDEN + (field + np.uint64(1)) * _FIELD
        return _mix(_mix(x))


def uniforms(key: int, indices: npt.NDArray[np.int64], fields: int) -> Uniforms:
    """``(len(indices), fields)`` floats uniform in [0, 1) with 53 random bits each."""
    return (words(key, indices, fields) >> np.uint64(11)).astype(np.float64) * (2.0**-53)
