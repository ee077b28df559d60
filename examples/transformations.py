"""Bridged C++ kernels under JAX transformations and control flow, each checked against pure JAX:
eager, jit, lax.scan, lax.while_loop, lax.cond, vmap with every vmap_method, grad through a
custom_vjp whose forward and backward passes are both C++ kernels, and an in-place update with
input_output_aliases and buffer donation.

Run: python examples/transformations.py   (last line: "transformations: OK")
"""

import jax
import jax.numpy as jnp
import numpy as np
import rms_norm
import tvm_ffi

import jax_tvm_ffi

SOURCE = r"""
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>

using tvm::ffi::TensorView;

// out[b, i] = sum_j a[b, i, j] * v[b, j] over any number of leading batch dims b. A batch dim
// of size 1 in a or v is broadcast, so the kernel serves every vmap_method.
void matvec(TensorView a, TensorView v, TensorView out) {
  const int64_t m = a.size(a.ndim() - 2), n = a.size(a.ndim() - 1);
  const int64_t batch = out.numel() / m, a_batch = a.numel() / (m * n), v_batch = v.numel() / n;
  TVM_FFI_ICHECK((a_batch == batch || a_batch == 1) && (v_batch == batch || v_batch == 1));
  const float* pa = static_cast<const float*>(a.data_ptr());
  const float* pv = static_cast<const float*>(v.data_ptr());
  float* po = static_cast<float*>(out.data_ptr());
  for (int64_t b = 0; b < batch; ++b) {
    const float* ab = pa + (a_batch == 1 ? 0 : b) * m * n;
    const float* vb = pv + (v_batch == 1 ? 0 : b) * n;
    for (int64_t i = 0; i < m; ++i) {
      float sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += ab[i * n + j] * vb[j];
      po[b * m + i] = sum;
    }
  }
}

// acc += update, in place: out is acc's buffer when the call aliases output 0 to input 0.
void add_into(TensorView acc, TensorView update, TensorView out) {
  TVM_FFI_ICHECK(acc.data_ptr() == out.data_ptr()) << "out must alias acc";
  const float* u = static_cast<const float*>(update.data_ptr());
  float* o = static_cast<float*>(out.data_ptr());
  for (int64_t i = 0; i < out.numel(); ++i) o[i] += u[i];
}
"""

EPS = 1e-6


def check(label, got, want, tol=1e-5):
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    print(f"{label}: ok")


def main():
    mod = tvm_ffi.cpp.load_inline(
        name="jax_tvm_ffi_example_transformations",
        cpp_sources=SOURCE,
        functions=["matvec", "add_into"],
    )
    rms_mod = rms_norm.module()
    forward = jax_tvm_ffi.ffi_function(
        rms_mod.rms_norm_fwd, rms_norm.shapes, arg_spec=rms_norm.ARG_SPEC
    )
    backward = jax_tvm_ffi.ffi_function(rms_mod.rms_norm_bwd, lambda x, inv_rms, g: x)

    def norm(x):
        return forward(x, eps=EPS)[0]

    def ref(x):
        return rms_norm.reference(x, EPS)

    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 6)), jnp.float32)

    # Eager, jit, and control flow.
    check("eager", norm(x), ref(x))
    check("jit", jax.jit(lambda x: jnp.tanh(norm(x * 3)))(x), jnp.tanh(ref(x * 3)))

    def scan_with(f):
        return jax.lax.scan(lambda c, row: (f(c + row), f(c + row).sum()), jnp.zeros(6), x)

    check("lax.scan", jax.jit(lambda: scan_with(norm))()[1], scan_with(ref)[1])

    def loop_with(f):
        return jax.lax.while_loop(lambda s: s[1] < 3, lambda s: (f(s[0] * 2), s[1] + 1), (x, 0))

    check("lax.while_loop", jax.jit(lambda: loop_with(norm))()[0], loop_with(ref)[0])

    def cond_with(f, flag):
        return jax.lax.cond(flag, f, lambda v: v * 2, x)

    for flag in (True, False):
        check(
            f"lax.cond({flag})",
            jax.jit(cond_with, static_argnums=0)(norm, flag),
            cond_with(ref, flag),
        )

    # vmap: each vmap_method, with one batched and one unbatched input.
    a = jnp.asarray(np.random.default_rng(1).standard_normal((5, 3, 4)), jnp.float32)
    v = jnp.arange(4, dtype=jnp.float32)
    for method in ("broadcast_all", "expand_dims", "sequential", "sequential_unrolled"):
        matvec = jax_tvm_ffi.ffi_function(
            mod.matvec,
            lambda a, v: jax.ShapeDtypeStruct(a.shape[:-1], a.dtype),
            vmap_method=method,
        )
        check(f"vmap({method})", jax.jit(jax.vmap(matvec, in_axes=(0, None)))(a, v), a @ v)

    # grad through a custom_vjp: forward and backward are both C++ kernels.
    @jax.custom_vjp
    def bridged_norm(x):
        return norm(x)

    def bridged_fwd(x):
        y, inv_rms = forward(x, eps=EPS)
        return y, (x, inv_rms)

    def bridged_bwd(residuals, g):
        x, inv_rms = residuals
        return (backward(x, inv_rms, g),)

    bridged_norm.defvjp(bridged_fwd, bridged_bwd)

    def loss(f, x):
        return jnp.sum(jnp.sin(f(x)) * jnp.arange(6))

    check(
        "grad",
        jax.jit(jax.grad(lambda x: loss(bridged_norm, x)))(x),
        jax.grad(lambda x: loss(ref, x))(x),
    )
    # and against central finite differences along a random direction
    direction = np.random.default_rng(2).standard_normal(x.shape)
    direction = jnp.asarray(direction / np.linalg.norm(direction), jnp.float32)
    h = 1e-3
    numeric = (loss(bridged_norm, x + h * direction) - loss(bridged_norm, x - h * direction)) / (
        2 * h
    )
    analytic = jnp.vdot(jax.grad(lambda x: loss(bridged_norm, x))(x), direction)
    check("grad vs finite differences", analytic, numeric, tol=1e-2)

    # In-place update: output 0 aliases input 0, and donation lets XLA reuse acc's buffer.
    add_into = jax_tvm_ffi.ffi_function(
        mod.add_into, lambda acc, update: acc, input_output_aliases={0: 0}
    )
    acc = jnp.zeros((4, 6), jnp.float32)
    address = acc.unsafe_buffer_pointer()
    acc = jax.jit(add_into, donate_argnums=0)(acc, x)
    assert acc.unsafe_buffer_pointer() == address, "the update did not happen in place"
    check("input_output_aliases + donation", acc, x)
    print("transformations: OK")


if __name__ == "__main__":
    main()
