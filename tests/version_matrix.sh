#!/usr/bin/env bash
# One cell of the version matrix (README: Supported versions): a new venv on PYTHON, the core
# built one way and run against other packages, then the quick start and pytest.
#
#   tests/version_matrix.sh NAME PYTHON BUILD RUN [pytest arguments...]
#
#   NAME    a label; the venv and wheel go to build/matrix/NAME
#   PYTHON  the interpreter, e.g. "$(pyenv root)/versions/3.12.1/bin/python"
#   BUILD   "isolated": pip's isolated build, which takes the newest jax and apache-tvm-ffi for
#           PYTHON (what `pip install .` does for a user);
#           "path/to/a.whl": a wheel built by an earlier cell, used as it is;
#           anything else: the requirements to build against, without build isolation,
#           e.g. "jax==0.6.2 jaxlib==0.6.2"
#   RUN     the requirements installed with the wheel and its test extra, e.g.
#           "jax==0.6.2 jaxlib==0.6.2 apache-tvm-ffi==0.1.8.post2"; "" for the newest
#   pytest arguments default to the whole suite but the memory soaks, which the main CI run
#   runs once: tests -q -m "not soak"
set -euo pipefail
cd "$(dirname "$0")/.."

name=$1 python=$2 build=$3 run=$4
shift 4
[ $# -gt 0 ] || set -- tests -q -m "not soak"
dir=build/matrix/$name
rm -rf "$dir"
mkdir -p "$dir"
"$python" -m venv "$dir/venv"
pip=("$dir/venv/bin/python" -m pip)
"${pip[@]}" install -q --upgrade pip

case $build in
  isolated)
    "${pip[@]}" wheel -q --no-deps -w "$dir/wheel" -C build-dir="$dir/build" .
    ;;
  *.whl)
    mkdir -p "$dir/wheel" && cp "$build" "$dir/wheel/"
    ;;
  *)
    # shellcheck disable=SC2086 # a list of requirements
    "${pip[@]}" install -q $build scikit-build-core
    "${pip[@]}" wheel -q --no-build-isolation --no-deps -w "$dir/wheel" -C build-dir="$dir/build" .
    ;;
esac
wheel=$(ls "$dir"/wheel/jax_tvm_ffi-*.whl)
# shellcheck disable=SC2086 # a list of requirements
"${pip[@]}" install -q "${wheel}[test]" $run

"$dir/venv/bin/python" - <<'PY'
import sys

import jax
import jaxlib
import tvm_ffi

import jax_tvm_ffi
from jax_tvm_ffi._core import installed_xla_api_version

built = jax_tvm_ffi.build_info()
running = "%d.%d" % installed_xla_api_version()
print(
    f"Python {sys.version.split()[0]}, jax {jax.__version__}, jaxlib {jaxlib.__version__} "
    f"(XLA FFI API {running}), apache-tvm-ffi {tvm_ffi.__version__}; core built against "
    f"jaxlib {built['jaxlib']} (XLA FFI API {built['xla_ffi_api']}), "
    f"apache-tvm-ffi {built['apache-tvm-ffi']}"
)
PY
out=$("$dir/venv/bin/python" examples/run_example.py)
[ "$out" = "[2. 3. 4.]" ] || { echo "$name: quick start printed '$out'"; exit 1; }
echo "$name: quick start OK"
"$dir/venv/bin/python" -m pytest "$@"
echo "$name: passed in ${SECONDS} s"
