"""In-order result checking shared by the cocotb benches, plus bit-exact float references.

:class:`InOrderChecker` takes expected items in the order the design must produce them and
compares each observed item as it arrives; :func:`fp32_add_reference` is the numpy model of
``hw.FP32Adder`` (numpy float32 addition, NaN canonicalised as SPEC section 4 requires).
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["CANONICAL_NAN", "InOrderChecker", "canonical_nan", "fp32_add_reference"]

CANONICAL_NAN = 0x7FC00000


def canonical_nan(bits) -> np.ndarray:
    """uint32 bit patterns with every NaN replaced by the canonical 0x7FC00000."""
    bits = np.asarray(bits, dtype=np.uint32)
    nan = (bits & 0x7F800000) == 0x7F800000
    nan &= (bits & 0x007FFFFF) != 0
    return np.where(nan, np.uint32(CANONICAL_NAN), bits)


def fp32_add_reference(a_bits, b_bits) -> np.ndarray:
    """IEEE binary32 RNE sum of uint32 bit patterns, as uint32 bit patterns.

    numpy adds float32 in hardware (SSE, default rounding, no flush-to-zero), which is
    exactly IEEE 754 binary32 addition; only NaN payloads differ from lutnpu, so NaNs are
    canonicalised.
    """
    a = np.asarray(a_bits, dtype=np.uint32).view(np.float32)
    b = np.asarray(b_bits, dtype=np.uint32).view(np.float32)
    with np.errstate(all="ignore"):
        s = (a + b).astype(np.float32)
    return canonical_nan(s.view(np.uint32))


class InOrderChecker:
    """Compare observed items with expected ones, strictly in order.

    Parameters
    ----------
    name : str
        Used in failure messages.
    fmt : callable, optional
        Formats an item for messages (default ``repr``; e.g. ``lambda v: f"{v:#010x}"``).

    Members
    -------
    checked : int
        Items compared so far.
    mismatches : list
        ``(index, expected, got, context)`` of every mismatch (``check`` raises on the first
        unless ``stop_on_error=False``).
    """

    def __init__(self, name: str = "checker", fmt=repr, *, stop_on_error: bool = True):
        self.name = name
        self.fmt = fmt
        self.stop_on_error = stop_on_error
        self._expected: deque = deque()
        self.checked = 0
        self.mismatches: list = []

    def expect(self, item, context=None) -> None:
        """Queue one expected item (``context`` is shown if it mismatches)."""
        self._expected.append((item, context))

    def expect_all(self, items, contexts=None) -> None:
        contexts = contexts if contexts is not None else [None] * len(items)
        for item, ctx in zip(items, contexts):
            self.expect(item, ctx)

    @property
    def pending(self) -> int:
        """Expected items not observed yet."""
        return len(self._expected)

    def check(self, got) -> None:
        """Compare ``got`` with the oldest expected item."""
        if not self._expected:
            raise AssertionError(f"{self.name}: unexpected extra item {self.fmt(got)}")
        want, ctx = self._expected.popleft()
        index = self.checked
        self.checked += 1
        if got != want:
            self.mismatches.append((index, want, got, ctx))
            if self.stop_on_error:
                raise AssertionError(
                    f"{self.name}: item {index}: expected {self.fmt(want)}, got {self.fmt(got)}"
                    + (f" ({ctx})" if ctx is not None else ""))

    def finish(self) -> int:
        """Assert that every expected item arrived and matched; return the count checked."""
        assert not self.mismatches, f"{self.name}: {len(self.mismatches)} mismatches, first " \
            f"{self.mismatches[0]}"
        assert not self._expected, f"{self.name}: {len(self._expected)} items never arrived"
        return self.checked
