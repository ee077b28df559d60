"""A kernel library's own signature, bound directly: outputs among the inputs, an optional tensor.

Kernel libraries order parameters their own way. This RoPE kernel, shaped like FlashInfer's
``apply_rope_pos_ids_cos_sin_cache``, takes ``(q, k, q_rope, k_rope, cos_sin_cache, positions,
maybe_scale, interleave)``: two outputs between the inputs and an ``Optional`` tensor. The arg
spec names every buffer by index, so the kernel is registered as it is, with no Python wrapper
in the call path: ``"rets.0"`` is the first output, ``"args.4?"`` is the fifth input or None
when that input has no elements (how a JAX caller says "absent").

Run: python examples/kernel_signature.py   (last line: "kernel_signature: OK")
"""

import jax
import jax.numpy as jnp
import numpy as np
import tvm_ffi

import jax_tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/optional.h>

#include <cstdint>

using tvm::ffi::Optional;
using tvm::ffi::TensorView;

// Rotates pairs of each row of x by the angle of the row's position; a pair is (j, j + d/2), or
// (2j, 2j + 1) when interleaved. cos_sin_cache[p] holds d/2 cosines, then d/2 sines.
void Rotate(TensorView x, TensorView out, const float* cos_sin, const int32_t* positions,
            const float* scale, bool interleave) {
  const int64_t rows = x.size(0), d = x.size(1), half = d / 2;
  const float* in = static_cast<const float*>(x.data_ptr());
  float* dst = static_cast<float*>(out.data_ptr());
  for (int64_t i = 0; i < rows; ++i) {
    const float* c = cos_sin + positions[i] * d;
    const float s = scale == nullptr ? 1.0f : scale[i];
    for (int64_t j = 0; j < half; ++j) {
      const int64_t a = interleave ? 2 * j : j;
      const int64_t b = interleave ? 2 * j + 1 : j + half;
      const float x0 = in[i * d + a], x1 = in[i * d + b];
      dst[i * d + a] = (x0 * c[j] - x1 * c[half + j]) * s;
      dst[i * d + b] = (x0 * c[half + j] + x1 * c[j]) * s;
    }
  }
}

void apply_rope(TensorView q, TensorView k, TensorView q_rope, TensorView k_rope,
                TensorView cos_sin_cache, TensorView positions, Optional<TensorView> maybe_scale,
                bool interleave) {
  TVM_FFI_ICHECK(q.ndim() == 2 && k.ndim() == 2 && q.size(1) % 2 == 0) << "q, k: [tokens, d]";
  TVM_FFI_ICHECK(positions.dtype() == DLDataType({kDLInt, 32, 1})) << "positions: int32";
  const float* scale = nullptr;
  if (maybe_scale.has_value()) scale = static_cast<const float*>(maybe_scale.value().data_ptr());
  const float* cache = static_cast<const float*>(cos_sin_cache.data_ptr());
  const int32_t* pos = static_cast<const int32_t*>(positions.data_ptr());
  Rotate(q, q_rope, cache, pos, scale, interleave);
  Rotate(k, k_rope, cache, pos, scale, interleave);
}
"""

# The kernel's parameters, one item each: q, k, q_rope, k_rope, cos_sin_cache, positions,
# maybe_scale, interleave. The JAX call's inputs are (q, k, cos_sin_cache, positions, scale).
ROPE_ARG_SPEC = [
    "args.0",
    "args.1",
    "rets.0",
    "rets.1",
    "args.2",
    "args.3",
    "args.4?",
    "attrs.interleave",
]


def build() -> object:
    """Compiles the kernel with tvm_ffi.cpp.load_inline (cached after the first run)."""
    return tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_example_kernel_signature", cpp_sources=SOURCE, functions=["apply_rope"]
    )


def rope_reference(q, k, cos_sin, positions, scale, interleave):
    """The same RoPE in pure JAX."""
    half = q.shape[1] // 2
    c = cos_sin[positions]
    cos, sin = c[:, :half], c[:, half:]

    def rotate(x):
        if interleave:
            x0, x1 = x[:, 0::2], x[:, 1::2]
        else:
            x0, x1 = x[:, :half], x[:, half:]
        y0, y1 = x0 * cos - x1 * sin, x0 * sin + x1 * cos
        y = (
            jnp.stack([y0, y1], axis=-1).reshape(x.shape)
            if interleave
            else jnp.concatenate([y0, y1], axis=1)
        )
        return y if scale is None else y * scale[:, None]

    return rotate(q), rotate(k)


def main() -> None:
    mod = build()
    apply_rope = jax_tvm_ffi.ffi_function(
        mod.apply_rope,
        lambda q, k, *_, **__: (q, k),  # q_rope and k_rope: shaped like q and k
        name="example.apply_rope",
        arg_spec=ROPE_ARG_SPEC,
    )

    tokens, d, max_pos = 6, 8, 16
    key = jax.random.PRNGKey(0)
    kq, kk, kc, ks = jax.random.split(key, 4)
    q = jax.random.normal(kq, (tokens, d), jnp.float32)
    k = jax.random.normal(kk, (tokens, d), jnp.float32)
    cos_sin = jax.random.normal(kc, (max_pos, d), jnp.float32)
    positions = jnp.array([0, 3, 5, 1, 15, 7], jnp.int32)
    scale = jax.random.uniform(ks, (tokens,), jnp.float32, 0.5, 1.5)
    absent = jnp.zeros((0,), jnp.float32)  # zero elements: the kernel receives None

    for interleave in (False, True):
        for given in (scale, absent):
            got = jax.jit(lambda *xs, i=interleave: apply_rope(*xs, interleave=i))(
                q, k, cos_sin, positions, given
            )
            want = rope_reference(
                q, k, cos_sin, positions, None if given.size == 0 else given, interleave
            )
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)
            state = "given" if given.size else "absent"
            print(f"interleave={interleave}, scale {state}: matches JAX")
    print("kernel_signature: OK")


if __name__ == "__main__":
    main()
