"""The reference environment: the published jax-tvm-ffi 0.1.3 beside this Python's jax and tvm-ffi.

The instruction counts (``bench_instructions.py``) compare the bridge with the published package,
used as a black box. A comparison is only fair on the same jax, jaxlib and apache-tvm-ffi, so the
reference lives in its own virtual environment, made once from this Python with those exact
versions and cached in ``benchmarks/build/reference-venv``. When pip cannot make it (no network,
no wheel for this Python or for these versions), the caller gets the reason instead of a path:
the benchmark then says the reference was not measured and why.

Run alone (prints the reference Python, or why there is none)::

    python benchmarks/reference_env.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

REFERENCE_PACKAGE = "jax-tvm-ffi"
REFERENCE_VERSION = "0.1.3"
# The distributions whose versions must equal this Python's for the figures to be comparable.
SHARED_PACKAGES = ("jax", "jaxlib", "apache-tvm-ffi")
VENV_DIR = Path(__file__).resolve().parent / "build" / "reference-venv"
# pip downloads jaxlib (about 80 MB); a stalled network must not hang the suite.
PIP_TIMEOUT_S = 900
_TAIL_LINES = 15

# Runs in the candidate Python: what is installed there, and where jax_tvm_ffi would be imported
# from (found, not imported, so that a PYTHONPATH pointing at this repository is caught).
_PROBE = """
import importlib.metadata as m, importlib.util as u, json, platform, sys
names = {names!r}
versions = {{}}
for name in names:
    try:
        versions[name] = m.version(name)
    except m.PackageNotFoundError:
        versions[name] = None
spec = u.find_spec("jax_tvm_ffi")
print(json.dumps({{"versions": versions, "python": platform.python_version(),
                  "prefix": sys.prefix, "origin": spec.origin if spec else None}}))
"""


@dataclass(frozen=True)
class Reference:
    """A reference environment, or why there is none.

    Attributes:
      python: the reference Python's path; ``None`` when there is no usable reference.
      why: why there is none (``None`` when ``python`` is set).
      versions: the versions found in it, by distribution name (empty when it could not be read).
    """

    python: str | None
    why: str | None = None
    versions: dict[str, str | None] = field(default_factory=dict)


def wanted_versions() -> dict[str, str]:
    """The versions the reference must have: 0.1.3 and this Python's jax, jaxlib, tvm-ffi.

    Raises:
      metadata.PackageNotFoundError: this Python lacks one of the shared distributions.
    """
    wanted = {name: metadata.version(name) for name in SHARED_PACKAGES}
    wanted[REFERENCE_PACKAGE] = REFERENCE_VERSION
    return wanted


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-_TAIL_LINES:])


def check(python: str) -> Reference:
    """Checks that ``python`` has exactly the wanted versions and this Python's version.

    Returns:
      ``Reference(python, versions=...)`` when it matches; else ``Reference(None, why, ...)``
      naming the first difference.
    """
    wanted = wanted_versions()
    try:
        probed = subprocess.run(
            [python, "-c", _PROBE.format(names=tuple(wanted))],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return Reference(None, f"the reference Python {python} could not be run: {error}")
    if probed.returncode != 0:
        return Reference(
            None,
            f"the reference Python {python} failed to report its packages:\n"
            + _tail(probed.stderr),
        )
    found = json.loads(probed.stdout.strip().splitlines()[-1])
    versions = found["versions"]
    for name, version in wanted.items():
        if versions[name] != version:
            have = "does not have it" if versions[name] is None else f"has {versions[name]}"
            return Reference(
                None,
                f"the reference Python {python} must have {name}=={version}, but {have}",
                versions,
            )
    ours = ".".join(str(part) for part in sys.version_info[:3])
    if found["python"] != ours:
        return Reference(
            None, f"the reference Python {python} is Python {found['python']}, not {ours}", versions
        )
    origin = found["origin"]
    if origin is None or not Path(origin).resolve().is_relative_to(Path(found["prefix"]).resolve()):
        return Reference(
            None,
            f"the reference Python {python} imports jax_tvm_ffi from {origin}, outside its own "
            f"environment {found['prefix']} (is PYTHONPATH set?)",
            versions,
        )
    return Reference(python, None, versions)


def _python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure(venv: Path = VENV_DIR) -> Reference:
    """The cached reference environment, made first if missing or not matching.

    A venv made earlier is reused when it still has the wanted versions (checked every time,
    since this Python's jax or tvm-ffi may have changed since); otherwise it is made again.
    Never raises for a failed ``venv`` or ``pip``: the returned ``why`` says what failed.
    """
    try:
        wanted = wanted_versions()
    except metadata.PackageNotFoundError as error:
        return Reference(None, f"this Python lacks {error.name}, so no reference can match it")
    if _python_of(venv).exists():
        cached = check(str(_python_of(venv)))
        if cached.python is not None:
            return cached
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    requirements = [f"{name}=={version}" for name, version in wanted.items()]
    steps = [
        ([sys.executable, "-m", "venv", str(venv)], "making the venv"),
        (
            [str(_python_of(venv)), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", *requirements],
            f"pip install {' '.join(requirements)}",
        ),
    ]  # fmt: skip
    for command, what in steps:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=PIP_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            shutil.rmtree(venv, ignore_errors=True)
            return Reference(None, f"{what} failed: {error}")
        if done.returncode != 0:
            # A half-made venv must not be mistaken for the cache next time.
            shutil.rmtree(venv, ignore_errors=True)
            output = _tail(done.stdout + done.stderr)
            return Reference(None, f"{what} failed (exit {done.returncode}):\n{output}")
    made = check(str(_python_of(venv)))
    if made.python is None:
        shutil.rmtree(venv, ignore_errors=True)
    return made


def main() -> int:
    """Makes (or finds) the reference environment; prints its Python, or why there is none."""
    reference = ensure()
    if reference.python is None:
        print(f"no reference environment: {reference.why}", file=sys.stderr)
        return 1
    print(reference.python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
