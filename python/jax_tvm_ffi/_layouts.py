"""Operand layouts for ``ffi_function``: checked once, then given to XLA and to the core.

``jax.ffi.ffi_call`` takes a layout per operand: ``None`` (row-major), a sequence of ints
naming the dimensions from major-most to minor-most, or a ``jax.experimental.layout.Layout``
without tiling. The core takes XLA's minor-to-major order; an operand in row-major order is
stored as ``()``, so that a call with only row-major operands keeps the straight path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from jax_tvm_ffi._validators import describe


def _is_layout_object(value: Any) -> bool:
    # jax.experimental.layout.Layout (DeviceLocalLayout in older jax), recognized by what the
    # FFI reads of it, so that every jax version's class is accepted.
    return hasattr(value, "major_to_minor") and (
        hasattr(value, "tiling") or hasattr(value, "_tiling")  # the latter before jax 0.7
    )


@dataclasses.dataclass(frozen=True)
class OperandLayouts:
    """The layouts of a call's inputs or outputs.

    ``minor_to_major`` has one entry per operand, ``()`` for row-major; ``ranks`` the number of
    dimensions each layout names (``None`` for a ``None`` layout, which fits any rank).
    """

    what: str
    minor_to_major: tuple[tuple[int, ...], ...]
    ranks: tuple[int | None, ...]

    def for_core(self) -> tuple[tuple[int, ...], ...] | None:
        """What the registration keeps: ``None`` when every operand is row-major."""
        if all(not layout for layout in self.minor_to_major):
            return None
        return self.minor_to_major

    def for_ffi_call(self) -> list[tuple[int, ...] | None]:
        """The layouts in ``jax.ffi.ffi_call``'s convention (major-to-minor)."""
        return [tuple(reversed(layout)) if layout else None for layout in self.minor_to_major]

    def check(self, where: str, shapes: Sequence[Any]) -> None:
        """Refuses operands whose count or ranks do not fit the layouts, naming the operand."""
        noun = "inputs" if self.what == "input_layouts" else "results"
        if len(shapes) != len(self.ranks):
            raise ValueError(
                f"{where}: {self.what} gives {len(self.ranks)} layout(s), but the call has "
                f"{len(shapes)} {noun}"
            )
        for i, (shape, rank) in enumerate(zip(shapes, self.ranks, strict=True)):
            if rank is not None and rank != len(shape.shape):
                raise ValueError(
                    f"{where}: {self.what}[{i}] names {rank} dimension(s), but "
                    f"{noun[:-1]} {i} has shape {tuple(shape.shape)} (rank {len(shape.shape)})"
                )


def _is_single_layout(layouts: Any) -> bool:
    if _is_layout_object(layouts):
        return True
    return (
        isinstance(layouts, Sequence)
        and len(layouts) > 0
        and all(isinstance(d, int) and not isinstance(d, bool) for d in layouts)
    )


def _minor_to_major(where: str, label: str, layout: Any) -> tuple[tuple[int, ...], int | None]:
    """One operand's layout as (minor-to-major, or () for row-major; the rank it names)."""
    if layout is None:
        return (), None
    if _is_layout_object(layout):
        if getattr(layout, "tiling", getattr(layout, "_tiling", None)) is not None:
            raise ValueError(f"{where}: {label} has a tiling, which the FFI does not support")
        major_to_minor = tuple(layout.major_to_minor)
    elif isinstance(layout, Sequence) and not isinstance(layout, (str, bytes)):
        major_to_minor = tuple(layout)
    else:
        raise TypeError(
            f"{where}: {label} must be None, a sequence of dimension indices (major-to-minor) "
            f"or a jax Layout, got {describe(layout)}"
        )
    rank = len(major_to_minor)
    if any(isinstance(d, bool) or not isinstance(d, int) for d in major_to_minor) or sorted(
        major_to_minor
    ) != list(range(rank)):
        raise ValueError(
            f"{where}: {label} {major_to_minor} is not a permutation of the dimensions "
            f"0..{rank - 1} (major-to-minor, as jax.ffi.ffi_call takes it)"
        )
    minor_to_major = tuple(reversed(major_to_minor))
    if minor_to_major == tuple(range(rank - 1, -1, -1)):
        return (), rank  # row-major
    return minor_to_major, rank


def parse_layouts(where: str, what: str, layouts: Any) -> OperandLayouts | None:
    """Checks ``input_layouts`` or ``output_layouts`` as ``ffi_function`` takes them.

    ``output_layouts`` may also be one layout, for a call with one result, as with
    ``jax.ffi.ffi_call``.
    """
    if layouts is None:
        return None
    if what == "output_layouts" and _is_single_layout(layouts):
        layouts = [layouts]
    if isinstance(layouts, (str, bytes)) or not isinstance(layouts, Sequence):
        raise TypeError(
            f"{where}: {what} must be a sequence with one layout per operand (None, a sequence "
            f"of dimension indices, or a jax Layout), got {describe(layouts)}"
        )
    parsed = [_minor_to_major(where, f"{what}[{i}]", layout) for i, layout in enumerate(layouts)]
    return OperandLayouts(
        what=what,
        minor_to_major=tuple(layout for layout, _ in parsed),
        ranks=tuple(rank for _, rank in parsed),
    )
