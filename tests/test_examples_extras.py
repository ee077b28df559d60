"""Examples that need an optional extra say how to install it and exit 0 when it is missing.

Each example runs in a fresh interpreter in which an import hook makes the extra's module look
uninstalled, whether or not it is installed here; CI also runs the examples with the extras
installed and checks that they end with "<name>: OK".
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(EXAMPLES))

import optional_extra  # noqa: E402

# (example, the module its extra provides, the extra's name in pyproject.toml)
CASES = [
    ("orcjit_kernel", "tvm_ffi_orcjit", "orcjit"),
    ("tvm_compiled_kernel", "tvm", "tvm"),
    ("export", "flatbuffers", "test"),
    ("embedded_kernel", "flatbuffers", "test"),
]

# Runs an example as `python examples/NAME.py` would, with `hidden` unimportable.
RUNNER = textwrap.dedent(
    """
    import runpy, sys

    class HideModule:
        def find_spec(self, name, path=None, target=None):
            if name == HIDDEN or name.startswith(HIDDEN + "."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    for name in [m for m in sys.modules if m == HIDDEN or m.startswith(HIDDEN + ".")]:
        del sys.modules[name]
    sys.meta_path.insert(0, HideModule())
    sys.path.insert(0, EXAMPLES)
    sys.argv = [SCRIPT]
    runpy.run_path(SCRIPT, run_name="__main__")
    """
)


def _extra_requirements(extra: str) -> list[str]:
    """The requirements pyproject.toml lists for ``extra``."""
    text = (REPO / "pyproject.toml").read_text()
    found = re.search(rf"^{re.escape(extra)} = \[(.*)\]\s*$", text, re.MULTILINE)
    assert found, f"pyproject.toml has no extra {extra!r}"
    return re.findall(r'"([^"]+)"', found.group(1))


@pytest.mark.parametrize(("example", "module", "extra"), CASES, ids=[c[0] for c in CASES])
def test_example_without_its_extra(example: str, module: str, extra: str, tmp_path: Path) -> None:
    if example == "embedded_kernel":
        from jax_tvm_ffi._embed import embedded_kernels_unsupported

        if (why := embedded_kernels_unsupported()) is not None:
            pytest.skip(why)
    script = EXAMPLES / f"{example}.py"
    preamble = f"HIDDEN = {module!r}\nEXAMPLES = {str(EXAMPLES)!r}\nSCRIPT = {str(script)!r}\n"
    done = subprocess.run(
        [sys.executable, "-c", preamble + RUNNER],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"exit code {done.returncode}\n{done.stdout}\n{done.stderr}"
    last = done.stdout.strip().splitlines()[-1]
    requirement = optional_extra.REQUIREMENTS[extra]
    assert last.startswith(f'{example}: skipped: needs the "{extra}" extra ({module} is'), last
    assert f'pip install "{requirement}"' in last and f'pip install ".[{extra}]"' in last, last
    assert requirement in _extra_requirements(extra), "the hint disagrees with pyproject.toml"


def test_a_broken_extra_still_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed extra that fails on its own missing dependency is not mistaken for absent."""
    (tmp_path / "broken_extra_module.py").write_text("import no_such_dependency_of_the_extra\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_of_the_extra"):
        optional_extra.import_extra("broken_extra_module", "orcjit", "example")
