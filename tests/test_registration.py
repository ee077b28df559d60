"""The registry: counting, re-registration, scale, thread safety, names and platforms."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tvm_ffi
from subprocess_util import assert_exited, run_python

import jax_tvm_ffi


def call_unary(name: str, x: jax.Array) -> jax.Array:
    return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(x.shape, x.dtype))(x)


X = jnp.array([1.0, 2.0, 3.0], jnp.float32)


def test_registered_count_grows_by_one_per_new_target(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    before = jax_tvm_ffi.registered_count()
    jax_tvm_ffi.register_ffi_target(unique_name("a"), kernels.add_one_f32)
    jax_tvm_ffi.register_ffi_target(unique_name("b"), kernels.add_one_f32)
    assert jax_tvm_ffi.registered_count() == before + 2


def test_reregistration_replaces_the_function_for_a_fresh_jit(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("swap")
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32)
    np.testing.assert_array_equal(jax.jit(lambda x: call_unary(name, x))(X), X + 1)
    count = jax_tvm_ffi.registered_count()

    jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32)

    assert jax_tvm_ffi.registered_count() == count
    np.testing.assert_array_equal(jax.jit(lambda x: call_unary(name, x))(X), X * 2)


def test_repeated_reregistration_uses_no_new_capacity(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("again")
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32)
    count = jax_tvm_ffi.registered_count()
    for i in range(2000):
        function = kernels.times_two_f32 if i % 2 else kernels.add_one_f32
        jax_tvm_ffi.register_ffi_target(name, function)
    assert jax_tvm_ffi.registered_count() == count
    np.testing.assert_array_equal(call_unary(name, X), X * 2)


class Model:
    """What a callback captures (a model's weights, say); weak references show when it is freed."""


def holding(model: Model) -> Callable[[Any, Any], None]:
    """A callback that holds ``model`` and computes y = x + 1."""

    def add_one(x: Any, y: Any) -> None:
        assert model is not None
        np.from_dlpack(y)[...] = np.from_dlpack(x) + 1

    return add_one


def test_reregistration_frees_what_the_previous_callback_held(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("frees")
    model = Model()
    freed = weakref.ref(model)
    jax_tvm_ffi.register_ffi_target(name, holding(model))
    del model
    np.testing.assert_array_equal(call_unary(name, X), X + 1)
    gc.collect()
    assert freed() is not None, "the registered callback was freed while registered"

    jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32)
    gc.collect()

    assert freed() is None, "re-registration kept the previous callback alive"
    np.testing.assert_array_equal(call_unary(name, X), X * 2)


def test_renamed_ffi_function_frees_the_previous_callback(
    unique_name: Callable[[str], str],
) -> None:
    # A notebook cell that defines a callback and its ffi_function under a fixed name, run twice.
    name = unique_name("cell")
    shape = jax.ShapeDtypeStruct(X.shape, X.dtype)
    model = Model()
    freed = weakref.ref(model)
    f = jax_tvm_ffi.ffi_function(holding(model), shape, name=name)
    del model
    np.testing.assert_array_equal(f(X), X + 1)

    # Re-binding a name to another function warns that every FfiFunction of that name changed.
    with pytest.warns(UserWarning, match="now calls"):
        f = jax_tvm_ffi.ffi_function(holding(Model()), shape, name=name)
    np.testing.assert_array_equal(f(X), X + 1)
    gc.collect()

    assert freed() is None, "re-registering the name kept the previous callback alive"


def test_previous_callback_lives_until_its_running_call_returns() -> None:
    # A call of the old callback is running (blocked on an event) while another thread
    # re-registers the target: the old callback must stay alive until that call returns, then be
    # freed. In a subprocess: freeing it too early could crash the interpreter.
    result = run_python(
        """
        import gc, weakref
        class Model:
            pass
        entered, leave = threading.Event(), threading.Event()
        def holding(model):
            def blocking(x, y):
                assert model is not None
                entered.set()
                assert leave.wait(60), "the test never let the call return"
                np.from_dlpack(y)[...] = np.from_dlpack(x) + 1
            return blocking
        model = Model()
        freed = weakref.ref(model)
        jax_tvm_ffi.register_ffi_target("race.swap", holding(model))
        del model
        out = {}
        caller = threading.Thread(target=lambda: out.update(y=np.asarray(ffi("race.swap"))))
        caller.start()
        assert entered.wait(60), "the call never started"
        jax_tvm_ffi.register_ffi_target("race.swap", kernels.times_two_f32)
        gc.collect()
        print("alive during the call:", freed() is not None)
        leave.set()
        caller.join(60)
        gc.collect()
        print("old call returned:", out["y"].tolist())
        print("freed after the call:", freed() is None)
        # (XLA's CPU client runs one computation at a time: new calls wait for the old one.)
        print("new calls use:", np.asarray(ffi("race.swap")).tolist())
        """
    )
    assert_exited(result)
    assert "alive during the call: True" in result.stdout, result.stdout
    assert "new calls use: [2.0, 4.0, 6.0]" in result.stdout, result.stdout
    assert "old call returned: [2.0, 3.0, 4.0]" in result.stdout, result.stdout
    assert "freed after the call: True" in result.stdout, result.stdout


def test_reregistration_reaches_already_compiled_executables(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    # The handler XLA holds stays the same; only the function behind it changes.
    name = unique_name("swap_compiled")
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32)
    compiled = jax.jit(lambda x: call_unary(name, x))
    np.testing.assert_array_equal(compiled(X), X + 1)
    np.testing.assert_array_equal(call_unary(name, X), X + 1)

    jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32)

    np.testing.assert_array_equal(compiled(X), X * 2)
    np.testing.assert_array_equal(call_unary(name, X), X * 2)


def test_reregistration_can_change_arg_spec_and_function_kind(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("respec")
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32)
    np.testing.assert_array_equal(call_unary(name, X), X + 1)

    def fill(y: tvm_ffi.Tensor, value: float) -> None:
        np.from_dlpack(y)[...] = value

    jax_tvm_ffi.register_ffi_target(name, fill, ["rets", "attrs.value"], pass_owned_tensor=True)
    out = jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(X.shape, X.dtype))(X, value=np.float32(7))
    np.testing.assert_array_equal(out, np.full(3, 7, np.float32))


def test_failed_reregistration_keeps_the_previous_registration(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("keep")
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32)
    count = jax_tvm_ffi.registered_count()

    with pytest.raises(ValueError, match="ret"):
        jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32, ["args", "ret"])
    with pytest.raises(TypeError):
        jax_tvm_ffi.register_ffi_target(name, None)  # type: ignore[arg-type]

    assert jax_tvm_ffi.registered_count() == count
    np.testing.assert_array_equal(call_unary(name, X), X + 1)


def test_changing_allow_cuda_graph_on_reregistration_is_refused(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("graph")
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, allow_cuda_graph=True)

    with pytest.raises(ValueError, match="allow_cuda_graph") as raised:
        jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32, allow_cuda_graph=False)
    assert name in str(raised.value)

    # The old registration is intact, and the same traits may be registered again.
    np.testing.assert_array_equal(call_unary(name, X), X + 1)
    jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32, allow_cuda_graph=True)
    np.testing.assert_array_equal(call_unary(name, X), X * 2)


def test_allow_cuda_graph_target_runs_on_cpu(kernels: tvm_ffi.Module, register) -> None:
    name = register(kernels.add_one_f32, allow_cuda_graph=True)
    np.testing.assert_array_equal(jax.jit(lambda x: call_unary(name, x))(X), X + 1)


def test_ten_thousand_distinct_targets(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name("many")
    before = jax_tvm_ffi.registered_count()
    start = time.perf_counter()
    for i in range(10_000):
        jax_tvm_ffi.register_ffi_target(f"{prefix}.{i}", kernels.add_one_f32)
    elapsed = time.perf_counter() - start

    assert jax_tvm_ffi.registered_count() == before + 10_000
    # Measured at well under a second; the bound only catches a per-registration cost blow-up.
    assert elapsed < 30.0, f"10,000 registrations took {elapsed:.1f} s"
    for i in (0, 1023, 1024, 5000, 9999):
        np.testing.assert_array_equal(call_unary(f"{prefix}.{i}", X), X + 1)


def test_concurrent_registration_from_eight_threads(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    prefix = unique_name("threads")
    shared = unique_name("shared")
    per_thread = 250
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                function = kernels.add_one_f32 if i % 2 == 0 else kernels.times_two_f32
                jax_tvm_ffi.register_ffi_target(f"{prefix}.{thread}.{i}", function)
                jax_tvm_ffi.register_ffi_target(shared, kernels.add_one_f32)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    before = jax_tvm_ffi.registered_count()
    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert jax_tvm_ffi.registered_count() == before + 8 * per_thread + 1
    for thread in range(8):
        np.testing.assert_array_equal(call_unary(f"{prefix}.{thread}.10", X), X + 1)
        np.testing.assert_array_equal(call_unary(f"{prefix}.{thread}.11", X), X * 2)
    np.testing.assert_array_equal(call_unary(shared, X), X + 1)


@pytest.mark.parametrize("platform", ["cpu", "gpu", "cuda", "rocm", "CPU", "Cuda"])
def test_known_platforms_are_accepted(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str], platform: str
) -> None:
    before = jax_tvm_ffi.registered_count()
    jax_tvm_ffi.register_ffi_target(unique_name(), kernels.add_one_f32, platform=platform)
    assert jax_tvm_ffi.registered_count() == before + 1


def test_gpu_and_cuda_name_the_same_platform(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name()
    before = jax_tvm_ffi.registered_count()
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, platform="gpu")
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, platform="cuda")
    assert jax_tvm_ffi.registered_count() == before + 1
    # The same name on other platforms is a distinct target.
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, platform="rocm")
    jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32, platform="cpu")
    assert jax_tvm_ffi.registered_count() == before + 3
    np.testing.assert_array_equal(call_unary(name, X), X * 2)


def test_gpu_registration_does_not_change_the_cpu_target(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    name = unique_name()
    jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, platform="cpu")
    jax_tvm_ffi.register_ffi_target(name, kernels.times_two_f32, platform="gpu")
    np.testing.assert_array_equal(call_unary(name, X), X + 1)


@pytest.mark.parametrize("platform", ["tpu", "", "host", "metal", "cpu "])
def test_unknown_platform_is_a_value_error_listing_the_choices(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str], platform: str
) -> None:
    name = unique_name()
    before = jax_tvm_ffi.registered_count()
    with pytest.raises(ValueError) as raised:
        jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32, platform=platform)
    message = str(raised.value)
    assert name in message
    for choice in ("cpu", "gpu", "cuda", "rocm"):
        assert choice in message
    assert jax_tvm_ffi.registered_count() == before


def test_non_string_platform_is_a_type_error(
    kernels: tvm_ffi.Module, unique_name: Callable[[str], str]
) -> None:
    with pytest.raises(TypeError, match="platform"):
        jax_tvm_ffi.register_ffi_target(unique_name(), kernels.add_one_f32, platform=None)  # type: ignore[arg-type]


def test_empty_name_is_a_value_error(kernels: tvm_ffi.Module) -> None:
    with pytest.raises(ValueError, match="empty"):
        jax_tvm_ffi.register_ffi_target("", kernels.add_one_f32)


@pytest.mark.parametrize("name", [None, 3, b"bytes.name"])
def test_non_string_name_is_a_type_error(kernels: tvm_ffi.Module, name: object) -> None:
    with pytest.raises(TypeError, match="name"):
        jax_tvm_ffi.register_ffi_target(name, kernels.add_one_f32)  # type: ignore[arg-type]


def test_public_api() -> None:
    assert set(jax_tvm_ffi.__all__) == {
        "ArgSpecError",
        "FfiFunction",
        "GlobalFunctionNotFoundError",
        "PlatformTypeError",
        "ScratchUsage",
        "allow_embedded_kernels",
        "build_info",
        "embedded_kernels_allowed",
        "embedded_targets",
        "export_disabled_checks",
        "ffi_function",
        "get_last_workspace_peak",
        "register_ffi_target",
        "registered_count",
        "scratch_usage",
    }
    assert isinstance(jax_tvm_ffi.registered_count(), int)
