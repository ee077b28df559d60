/*!
 * \file binding.h
 * \brief Everything a target's calls need that depends only on its registration, computed once.
 */
#ifndef JAX_TVM_FFI_SRC_REGISTRATION_BINDING_H_
#define JAX_TVM_FFI_SRC_REGISTRATION_BINDING_H_

#include <dlpack/dlpack.h>
#include <tvm/ffi/function.h>
#include <xla/ffi/api/c_api.h>

#include <string>
#include <vector>

#include "call/pack_items.h"
#include "jax_tvm_ffi/arg_spec.h"
#include "jax_tvm_ffi/target.h"
#include "scratch/scratch_stats.h"

namespace jax_tvm_ffi {

/*!
 * \brief A registration of a target: the plan its calls follow. Complete when constructed and
 *        never written afterwards (the registry holds it as a const object), so calls on any
 *        thread read it without synchronization once they have reached it.
 */
struct Binding {
  /*!
   * \param scratch_stats The target's scratch-memory counters, shared by its registrations;
   *        nullptr (a binding made outside the registry: unit tests, benchmarks) counts into a
   *        process-wide sink.
   */
  Binding(std::string name, tvm::ffi::Function function, ArgSpec spec, TargetOptions options,
          ScratchStats* scratch_stats = nullptr);

  std::string name;
  tvm::ffi::Function function;
  /*!
   * \brief The symbol `function` calls, called in its place (library functions; see
   *        DirectEntryOf), or nullptr: call `function`. `function` keeps the library loaded.
   */
  TVMFFISafeCallType direct_entry;
  ArgSpec spec;
  TargetOptions options;
  /*! \brief kDLCPU, kDLCUDA or kDLROCM. */
  DLDeviceType device_type;
  /*! \brief True on GPU platforms: fetch stream and ordinal, install the stream. */
  bool uses_stream;
  /*!
   * \brief The call is wrapped: by the Python exit guard (options.python_backed), the checking
   *        mode (options.check) or the workspace mode (options.last_result_is_workspace). One
   *        flag, so that plain calls pay one test for all three.
   */
  bool wrapped;
  /*! \brief The traits reported to XLA's metadata query. */
  XLA_FFI_Handler_Traits traits;
  /*! \brief The spec's items as the call path packs them (see PackItems). */
  PackPlan pack_plan;
  /*!
   * \brief Some buffer has a layout other than row-major (options.input_layouts, output_layouts):
   *        the general path gives its view the layout's strides.
   */
  bool has_layouts;
  /*!
   * \brief The straight path may take this target's calls: it passes borrowed row-major views
   *        (no owned tensors, no layouts).
   */
  bool straight;
  /*!
   * \brief The spec passes every input (every output) of a call whose counts pass
   *        ArgSpec::BufferCountsOk: it names "args" ("rets") or names inputs (outputs) by index.
   *        The straight path takes only calls that pass every buffer.
   */
  bool passes_all_args;
  bool passes_all_rets;
  /*! \brief The spec names buffers by index: a call's counts are checked. */
  bool names_buffers;
  /*!
   * \brief The spec passes every buffer of every call, named by no index: "args" and "rets"
   *        both present and nothing else to check, so the straight path tests only its limits.
   */
  bool passes_every_buffer;
  /*!
   * \brief The number of packed arguments of a call: fixed + per_arg * (number of arguments) +
   *        per_ret * (number of results), since only the buffer counts vary between call sites.
   */
  struct PackedCount {
    size_t fixed = 0;
    size_t per_arg = 0;
    size_t per_ret = 0;
    size_t At(size_t num_args, size_t num_rets) const {
      return fixed + per_arg * num_args + per_ret * num_rets;
    }
  };
  PackedCount end_offset;
  /*!
   * \brief Every call's attributes are known to be the spec's, in order (AttrNames::MatchInOrder
   * held for the call site when XLA instantiated it): the straight path checks only their count.
   *        Set by an embedded call site for its own binding before XLA can call it; a registered
   *        target serves many call sites and leaves it false.
   */
  bool attrs_checked_at_instantiate = false;
  /*! \brief The scratch-memory counters of the target (see the constructor). Never null. */
  ScratchStats* scratch_stats;
};

}  // namespace jax_tvm_ffi

#endif  // JAX_TVM_FFI_SRC_REGISTRATION_BINDING_H_
