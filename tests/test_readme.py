"""README.md's code runs as printed: every ```python block, and every ```cpp / ```c block compiles.

The blocks and their markers (continuations, requirements, blocks not run) are read by
``tests/readme_blocks.py``, so blocks added later are picked up by themselves. Each chain of
Python blocks runs in one fresh interpreter from an empty temporary directory; a failure names
the README line of the block that failed, and tracebacks point into README.md itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import pytest
import readme_blocks
import tvm_ffi.libinfo
from readme_blocks import Block

BLOCKS = readme_blocks.parse()
REPO = readme_blocks.README.parent
TIMEOUT_S = 300  # a cold chain compiles its kernels; tvm_ffi caches them for the next run

# Runs the chain listed in blocks.json, one block after another in one namespace. Each block is
# compiled as README.md with its own line numbers, and announced on stderr so that a failure can
# be pinned on it.
DRIVER = textwrap.dedent(
    """
    import json, sys
    namespace = {"__name__": "__main__"}
    for line, code in json.load(open("blocks.json")):
        print(f"@@ README block {line} @@", flush=True)
        print(f"@@ README block {line} @@", file=sys.stderr, flush=True)
        exec(compile("\\n" * (line - 1) + code, README, "exec"), namespace)
    """
)


def _missing(requirement: str) -> str | None:
    """Why ``requirement`` is not met here, or None when it is."""
    if requirement == "gpu":
        if any(d.platform in ("gpu", "cuda", "rocm") for d in jax.devices()):
            return None
        return "needs a GPU"
    if requirement == "nvcc":
        return None if shutil.which("nvcc") else "needs nvcc"
    if requirement == "embedded":
        from jax_tvm_ffi._embed import embedded_kernels_unsupported

        return embedded_kernels_unsupported()
    if importlib.util.find_spec(requirement) is None:
        return f"needs the Python module {requirement} (an optional extra)"
    return None


def _skip_reason(block: Block) -> str | None:
    for member in block.chain():
        if member.not_run:
            return f"{member.where} is not run: {member.not_run}"
        for requirement in member.requires:
            if (reason := _missing(requirement)) is not None:
                return f"{member.where} {reason}"
    return None


def _ids(blocks: list[Block]) -> list[str]:
    return [b.where for b in blocks]


CHAINS = readme_blocks.python_chains(BLOCKS)
COMPILED = [b for b in BLOCKS if b.language in ("cpp", "c")]


def _run_chain(block: Block, directory: Path, readme: Path) -> str | None:
    """Runs ``block``'s chain in a fresh interpreter in ``directory``; why it failed, or None."""
    chain = block.chain()
    (directory / "blocks.json").write_text(json.dumps([[b.line, b.code] for b in chain]))
    (directory / "driver.py").write_text(f"README = {str(readme)!r}\n" + DRIVER)
    env = dict(os.environ)
    if not any("gpu" in member.requires for member in chain):
        env["JAX_PLATFORMS"] = "cpu"  # the README's CPU targets, also on a machine with a GPU
    try:
        done = subprocess.run(
            [sys.executable, "driver.py"],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        started = re.findall(r"@@ README block (\d+) @@", str(error.stderr or ""))
        line = started[-1] if started else chain[0].line
        return f"{readme.name}:{line}: block still running after {TIMEOUT_S} s"
    if done.returncode != 0:
        started = re.findall(r"@@ README block (\d+) @@", done.stderr)
        line = started[-1] if started else chain[0].line
        return (
            f"{readme.name}:{line}: block failed (exit code {done.returncode}; chain "
            f"{' -> '.join(b.where for b in chain)})\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-8000:]}"
        )
    # What each block printed, by its line: the driver marks where each one starts.
    printed = dict(
        re.findall(r"@@ README block (\d+) @@\n(.*?)(?=@@ README block|\Z)", done.stdout, re.S)
    )
    for member in chain:
        output = " ".join(printed.get(str(member.line), "").split())
        rest = output
        for said in member.expected_output():
            said = " ".join(said.split())
            position = rest.find(said)
            if position < 0:
                return f"{member.where}: the block says it prints {said!r}; it printed {output!r}"
            rest = rest[position + len(said) :]
    return None


@pytest.mark.parametrize("block", CHAINS, ids=_ids(CHAINS))
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    if (reason := _skip_reason(block)) is not None:
        pytest.skip(reason)
    if (failure := _run_chain(block, tmp_path, readme_blocks.README)) is not None:
        pytest.fail(failure)


def test_the_runner_catches_failures(tmp_path: Path) -> None:
    """A block that raises, or prints other than it says, fails naming its own README line."""
    readme = tmp_path / "README.md"
    readme.write_text(
        "```python\nx = 1\nprint(x)  # 1\n```\n\n"
        "```python\n# continues the previous block\nprint(x + 1)  # 3\n```\n\n"
        "```python\nprint('ok')\nraise ValueError('broken')\n```\n"
    )
    blocks = readme_blocks.parse(readme)
    wrong_output = _run_chain(blocks[1], tmp_path, readme)
    assert wrong_output is not None
    assert wrong_output.startswith("README.md:7: the block says it prints '3'; it printed '2'")
    raises = _run_chain(blocks[2], tmp_path, readme)
    assert raises is not None and raises.startswith("README.md:12: block failed"), raises
    assert 'README.md", line 13' in raises and "ValueError: broken" in raises
    assert _run_chain(blocks[0], tmp_path, readme) is None


def _compile_command(block: Block, source: Path) -> list[str]:
    includes = {
        tvm_ffi.libinfo.find_include_path(),
        tvm_ffi.libinfo.find_dlpack_include_path(),
        str(REPO / "include"),
        jax.ffi.include_dir(),
    }
    flags = [f"-I{path}" for path in sorted(includes)] + ["-c", str(source), "-o", "block.o"]
    if "nvcc" in block.requires:
        return ["nvcc", "-std=c++17", *flags]
    if block.language == "c":
        return [os.environ.get("CC", "cc"), "-std=c99", "-Wall", "-Werror", *flags]
    return [os.environ.get("CXX", "c++"), "-std=c++17", "-Wall", "-Werror", *flags]


@pytest.mark.parametrize("block", COMPILED, ids=_ids(COMPILED))
def test_cpp_block_compiles(block: Block, tmp_path: Path) -> None:
    if block.not_run:
        pytest.skip(f"{block.where} is not compiled: {block.not_run}")
    for requirement in block.requires:
        if (reason := _missing(requirement)) is not None:
            pytest.skip(f"{block.where} {reason}")
    suffix = ".cu" if "nvcc" in block.requires else "." + block.language
    source = tmp_path / f"block{suffix}"
    source.write_text("\n" * (block.line - 1) + block.code)  # diagnostics give README lines
    done = subprocess.run(
        _compile_command(block, source), cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{block.where}: does not compile\n{done.stderr[-8000:]}"


def test_every_block_is_covered() -> None:
    """Each Python block is in some chain that runs, so none is silently left out."""
    covered = {id(member) for chain in CHAINS for member in chain.chain()}
    python = [b for b in BLOCKS if b.language == "python"]
    assert python, "README.md has no python blocks: is the parser broken?"
    assert [b.where for b in python if id(b) not in covered] == []


def test_markers_are_checked(tmp_path: Path) -> None:
    """A misspelt marker or a continuation with nothing before it is an error, not a free pass."""
    readme = tmp_path / "README.md"
    readme.write_text("text\n\n```python\n# continue the previous block\nx = 1\n```\n")
    with pytest.raises(ValueError, match=r"README.md:4: unrecognised block marker"):
        readme_blocks.parse(readme)
    readme.write_text("```python\n# continues the previous block\nx = 1\n```\n")
    with pytest.raises(ValueError, match=r"README.md:2: continues the previous block, but none"):
        readme_blocks.parse(readme)
    readme.write_text('```python\n# continues block "setup"\n```\n')
    with pytest.raises(ValueError, match=r"continues block 'setup', not above"):
        readme_blocks.parse(readme)
    readme.write_text(
        '```python\n# block "setup"\nx = 1\n```\n\n```python\ny = 2\n```\n\n'
        '```python\n# continues block "setup"\n# requires: gpu\nz = x\n```\n'
    )
    blocks = readme_blocks.parse(readme)
    assert [b.where for b in blocks[2].chain()] == ["README.md:2", "README.md:11"]
    assert blocks[2].requires == ["gpu"]
    assert [b.where for b in readme_blocks.python_chains(blocks)] == ["README.md:7", "README.md:11"]
    readme.write_text(
        "```python\nprint(f(1))  # (8, 16) (8,)\nprint(x)\n# [1. 2.]\n# [3. 4.]\n"
        "print(build_info())  # e.g. {'jaxlib': '0.10.2'}\nprint(a,\n      b)  # 1 2\n```\n"
    )
    assert readme_blocks.parse(readme)[0].expected_output() == ["(8, 16) (8,)", "[1. 2.] [3. 4.]"]


def test_testing_section_matches_ci() -> None:
    """The README's Testing section lists the examples .ci/run runs, and its pytest command."""
    readme = readme_blocks.README.read_text()
    ci = (REPO / ".ci" / "run").read_text().replace("\\\n", " ")

    def examples(text: str) -> list[str]:
        found = re.search(r"for example in ([^;]+);", text)
        assert found, "no 'for example in ...' loop"
        return found.group(1).split()

    assert examples(readme) == examples(ci)
    assert "python -m pytest tests -q" in readme and "python -m pytest tests -q" in ci
