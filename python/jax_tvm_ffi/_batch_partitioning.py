"""Marks an ``ffi_call`` so the SPMD partitioner splits it along its leading (batch) dimension.

``jax.ffi.register_ffi_target_as_batch_partitionable(name)`` installs XLA's batch partitioner
for a target, but the partitioner only acts on custom calls that say how many leading dims are
batch dims (the ``num_batch_dims`` frontend attribute) and, under Shardy, that carry a sharding
rule tying those dims of every operand and result together. ``jax.ffi.ffi_call`` writes neither
(JAX's own LAPACK lowerings add them by hand). ``mark_batch_partitionable`` applies an identity
primitive to the call's results whose lowering adds both attributes to the custom call that
produced them.
"""

from __future__ import annotations

import inspect
import itertools
import string
from collections.abc import Sequence
from typing import Any

import jax
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

_mark_p = Primitive("jax_tvm_ffi_batch_partitionable")
_mark_p.multiple_results = True
_mark_p.def_impl(lambda *values, target_name: values)
_mark_p.def_abstract_eval(lambda *avals, target_name: avals)


def _batch_rule(
    values: Sequence[Any], dims: Sequence[Any], *, target_name: str
) -> tuple[Any, Sequence[Any]]:
    return _mark_p.bind(*values, target_name=target_name), dims


batching.primitive_batchers[_mark_p] = _batch_rule


def _shapes(values: Sequence[Any]) -> list[list[int]]:
    return [list(mlir.ir.RankedTensorType(value.type).shape) for value in values]


def _sharding_rule(operands: list[list[int]], results: list[list[int]]) -> str:
    """The Shardy rule: dim 0 of every tensor is the shared factor i; other dims are their own."""
    names = (
        "".join(letters)
        for size in itertools.count(1)
        for letters in itertools.product(string.ascii_lowercase[8:], repeat=size)
    )
    batch = next(names)
    sizes = {batch: (operands + results)[0][0]}

    def factors(shape: list[int]) -> str:
        own = []
        for size in shape[1:]:
            name = next(names)
            sizes[name] = size
            own.append(name)
        return "[" + ", ".join([batch, *own]) + "]"

    lhs = ", ".join(factors(s) for s in operands)
    rhs = ", ".join(factors(s) for s in results)
    size_text = ", ".join(f"{name}={size}" for name, size in sizes.items())
    return f"#sdy.op_sharding_rule<({lhs})->({rhs}) {{{size_text}}}>"


def _lowering(ctx: Any, *values: Any, target_name: str) -> Sequence[Any]:
    op = values[0].owner if values else None
    if op is None or isinstance(op, mlir.ir.Block):
        return values
    op = op.operation
    # Under vmap(method="sequential") the values come from a loop, not from the custom call:
    # that loop runs the call on unbatched slices, and there is nothing to mark.
    if op.name != "stablehlo.custom_call" or any(v.owner.operation != op for v in values):
        return values
    if mlir.ir.StringAttr(op.attributes["call_target_name"]).value != target_name:
        return values
    operands, results = _shapes(op.operands), _shapes(op.results)
    if any(not shape for shape in operands + results):
        return values
    attributes = {"num_batch_dims": mlir.ir.StringAttr.get("1")}
    if "mhlo.frontend_attributes" in op.attributes:
        for entry in mlir.ir.DictAttr(op.attributes["mhlo.frontend_attributes"]):
            attributes.setdefault(entry.name, entry.attr)
    op.attributes["mhlo.frontend_attributes"] = mlir.ir.DictAttr.get(attributes)
    if jax.config.jax_use_shardy_partitioner:
        op.attributes["sdy.sharding_rule"] = mlir.ir.Attribute.parse(
            _sharding_rule(operands, results)
        )
    return values


# Not cacheable: a cached lowering would see the values through a function call, whose owner is
# no longer the custom call. JAX 0.6 has no lowering cache, and no such parameter.
if "cacheable" in inspect.signature(mlir.register_lowering).parameters:
    mlir.register_lowering(_mark_p, _lowering, cacheable=False)
else:
    mlir.register_lowering(_mark_p, _lowering)


def mark_batch_partitionable(results: Sequence[Any], target_name: str) -> list[Any]:
    """Returns ``results`` (the outputs of one ffi_call to ``target_name``), marked."""
    return list(_mark_p.bind(*results, target_name=target_name))
