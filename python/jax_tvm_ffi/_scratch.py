"""Scratch memory the bridge served to a target's function (``include/jax_tvm_ffi/scratch.h``)."""

from __future__ import annotations

from typing import NamedTuple

from jax_tvm_ffi._core import core
from jax_tvm_ffi._validators import check_platform


class ScratchUsage(NamedTuple):
    """Scratch memory a target's function asked for; bytes are the tensors' sizes.

    Attributes:
      last_call_allocations: allocations made by the most recent call that finished.
      last_call_peak_bytes: the most bytes held at once during that call.
      total_allocations: allocations made by every call so far.
      peak_bytes: the most bytes held at once during any call so far.
      outstanding_allocations: scratch tensors not yet released; non-zero only while a call runs
        or when a function kept one past its call (which fails that call).
    """

    last_call_allocations: int
    last_call_peak_bytes: int
    total_allocations: int
    peak_bytes: int
    outstanding_allocations: int


def scratch_usage(name: str, platform: str = "cpu") -> ScratchUsage:
    """Returns the scratch usage of the target ``name`` on ``platform``.

    While a target's function runs, ``tvm::ffi::Tensor::FromEnvAlloc(TVMFFIEnvTensorAlloc, ...)``
    is served by the bridge: host tensors from a per-call arena (64-byte aligned), tensors on the
    call's GPU from XLA's device allocator (256-byte aligned). Everything is given back when the
    call ends. The counters cover every registration of ``(name, platform)``.

    Raises:
      TypeError: ``name`` or ``platform`` is not a str.
      ValueError: an unknown platform, or no such target is registered.
    """
    if not isinstance(name, str):
        raise TypeError(f"scratch_usage: name must be a str, got {type(name).__name__}")
    canonical = check_platform(f"scratch_usage('{name}')", platform)
    try:
        values = core().scratch_usage(name, canonical)
    except ValueError as error:
        raise ValueError(f"scratch_usage('{name}'): {error}") from None
    return ScratchUsage(**{field: int(values[field]) for field in ScratchUsage._fields})
