/*
 * \file add_one.c
 * \brief Kernels written in C99 against the TVM FFI C ABI alone (tvm/ffi/c_api.h): no C++.
 *
 * A function that tvm_ffi.load_module finds is an exported symbol named __tvm_ffi_<name> with the
 * TVMFFISafeCallType signature: it reads its arguments from an array of TVMFFIAny, writes its
 * result (here: none), and reports an error by setting it with TVMFFIErrorSetRaisedFromCStr and
 * returning -1. This is what TVM_FFI_DLL_EXPORT_TYPED_FUNC generates for a C++ function.
 *
 * Exported:
 *   add_one(x, y):        y = x + 1, float32, any shape
 *   scale(x, y, factor):  y = x * factor, float32, any shape; factor a float or int attribute
 *
 * Build (examples/pure_c.py does this):
 *   cc -std=c99 -O2 -shared -fPIC $(python -m tvm_ffi.config --cflags) add_one.c -o add_one.so \
 *      $(python -m tvm_ffi.config --ldflags) -ltvm_ffi \
 *      -Wl,-rpath,$(python -m tvm_ffi.config --libdir)
 */
#include <stdint.h>
#include <stdio.h>
#include <tvm/ffi/c_api.h>

/* Raises a ValueError (or another kind) whose message names the function, and returns -1. */
static int Fail(const char* kind, const char* func, const char* message) {
  char text[256];
  snprintf(text, sizeof(text), "%s: %s", func, message);
  TVMFFIErrorSetRaisedFromCStr(kind, text);
  return -1;
}

/*
 * The DLTensor an argument carries: a borrowed DLTensor* (kTVMFFIDLTensorPtr, how jax_tvm_ffi
 * passes buffers by default) or a tensor object (kTVMFFITensor, with pass_owned_tensor=True),
 * whose layout is { TVMFFIObject header, DLTensor }. NULL for anything else.
 */
static DLTensor* GetTensor(const TVMFFIAny* arg) {
  if (arg->type_index == kTVMFFIDLTensorPtr) return (DLTensor*)arg->v_ptr;
  if (arg->type_index == kTVMFFITensor) {
    return (DLTensor*)((char*)arg->v_obj + sizeof(TVMFFIObject));
  }
  return NULL;
}

/* Checks that t is a float32 CPU tensor laid out compactly in row-major order; -1 if not. */
static int CheckFloat32(const char* func, const char* name, const DLTensor* t) {
  char text[160];
  int64_t expected = 1;
  int32_t i;
  if (t->device.device_type != kDLCPU) {
    snprintf(text, sizeof(text), "%s must be a CPU tensor, got device type %d", name,
             (int)t->device.device_type);
    return Fail("ValueError", func, text);
  }
  if (t->dtype.code != kDLFloat || t->dtype.bits != 32 || t->dtype.lanes != 1) {
    snprintf(text, sizeof(text),
             "%s must be float32, got DLPack dtype code %d with %d bits and %d lanes", name,
             (int)t->dtype.code, (int)t->dtype.bits, (int)t->dtype.lanes);
    return Fail("ValueError", func, text);
  }
  if (t->strides == NULL) return 0;
  for (i = t->ndim - 1; i >= 0; --i) {
    if (t->shape[i] != 1 && t->strides[i] != expected) {
      snprintf(text, sizeof(text), "%s must be compact row-major", name);
      return Fail("ValueError", func, text);
    }
    expected *= t->shape[i];
  }
  return 0;
}

/* Checks that args[0] (x) and args[1] (y) are float32 tensors of one shape; -1 on error. */
static int CheckUnary(const char* func, const TVMFFIAny* args, DLTensor** x, DLTensor** y) {
  char text[160];
  int32_t i;
  *x = GetTensor(&args[0]);
  *y = GetTensor(&args[1]);
  if (*x == NULL || *y == NULL) {
    snprintf(text, sizeof(text), "x and y must be tensors, got type indices %d and %d",
             (int)args[0].type_index, (int)args[1].type_index);
    return Fail("TypeError", func, text);
  }
  if (CheckFloat32(func, "x", *x) != 0 || CheckFloat32(func, "y", *y) != 0) return -1;
  if ((*x)->ndim != (*y)->ndim) {
    snprintf(text, sizeof(text), "x and y must have the same rank, got %d and %d", (int)(*x)->ndim,
             (int)(*y)->ndim);
    return Fail("ValueError", func, text);
  }
  for (i = 0; i < (*x)->ndim; ++i) {
    if ((*x)->shape[i] != (*y)->shape[i]) {
      snprintf(text, sizeof(text), "x and y differ in dimension %d: %lld and %lld", (int)i,
               (long long)(*x)->shape[i], (long long)(*y)->shape[i]);
      return Fail("ValueError", func, text);
    }
  }
  return 0;
}

static int64_t NumElements(const DLTensor* t) {
  int64_t n = 1;
  int32_t i;
  for (i = 0; i < t->ndim; ++i) n *= t->shape[i];
  return n;
}

static void SetNone(TVMFFIAny* result) {
  result->type_index = kTVMFFINone;
  result->zero_padding = 0;
  result->v_int64 = 0;
}

TVM_FFI_DLL_EXPORT int __tvm_ffi_add_one(void* self, const TVMFFIAny* args, int32_t num_args,
                                         TVMFFIAny* result) {
  DLTensor *x, *y;
  const float* in;
  float* out;
  int64_t i, n;
  (void)self;
  if (num_args != 2) {
    char text[96];
    snprintf(text, sizeof(text), "expected 2 arguments (x, y), got %d", (int)num_args);
    return Fail("TypeError", "add_one", text);
  }
  if (CheckUnary("add_one", args, &x, &y) != 0) return -1;
  in = (const float*)((const char*)x->data + x->byte_offset);
  out = (float*)((char*)y->data + y->byte_offset);
  n = NumElements(x);
  for (i = 0; i < n; ++i) out[i] = in[i] + 1.0f;
  SetNone(result);
  return 0;
}

TVM_FFI_DLL_EXPORT int __tvm_ffi_scale(void* self, const TVMFFIAny* args, int32_t num_args,
                                       TVMFFIAny* result) {
  DLTensor *x, *y;
  const float* in;
  float* out;
  float factor;
  int64_t i, n;
  (void)self;
  if (num_args != 3) {
    char text[96];
    snprintf(text, sizeof(text), "expected 3 arguments (x, y, factor), got %d", (int)num_args);
    return Fail("TypeError", "scale", text);
  }
  if (CheckUnary("scale", args, &x, &y) != 0) return -1;
  if (args[2].type_index == kTVMFFIFloat) {
    factor = (float)args[2].v_float64;
  } else if (args[2].type_index == kTVMFFIInt) {
    factor = (float)args[2].v_int64;
  } else {
    return Fail("TypeError", "scale", "factor must be a float or an int");
  }
  in = (const float*)((const char*)x->data + x->byte_offset);
  out = (float*)((char*)y->data + y->byte_offset);
  n = NumElements(x);
  for (i = 0; i < n; ++i) out[i] = in[i] * factor;
  SetNone(result);
  return 0;
}
