"""The code blocks of README.md and the conventions that say how each one runs.

``tests/test_readme.py`` runs every ```python block and compiles every ```cpp / ```c block
with what this module finds. A block's leading comment lines (``#`` in Python, ``//`` in C and
C++) may hold these markers, which the README states once for its readers:

Python blocks:
  ``# continues the previous block``  runs after the Python block before it, in the same
                                       interpreter (its names are defined);
  ``# continues block "NAME"``         runs after the block labelled NAME (and what that one
                                       continues), in one interpreter;
  ``# block "NAME"``                   labels a block for ``continues block``;
  ``# requires: gpu, MODULE``          skipped, naming what is missing, unless JAX has a GPU /
                                       MODULE can be imported (inherited by continuing blocks);
                                       ``embedded``: unless this installation runs embedded
                                       kernels;
  ``# not run: REASON``                never run (a cluster command, say), with REASON shown.
C and C++ blocks:
  ``// requires: nvcc``                compiled with nvcc as CUDA, skipped without nvcc;
  ``// not compiled: REASON``          a fragment, never compiled.

Every other ```python block runs on its own; every other ```cpp / ```c block must compile.

A one-line ``print(...)`` at the top level of a Python block may state what it prints: in a
comment at the end of its line, or in the comment lines right below it (joined by spaces). The
test checks that the block prints that text; a comment that starts with ``e.g.`` is not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"

_FENCE = re.compile(r"^```(\w*)\s*$")
_CONTINUES_PREVIOUS = re.compile(r"^# continues the previous block\s*$")
_CONTINUES_NAMED = re.compile(r'^# continues block "([^"]+)"\s*$')
_LABEL = re.compile(r'^# block "([^"]+)"')
_REQUIRES = re.compile(r"^(?:#|//) requires: (.+?)\s*$")
_NOT_RUN = re.compile(r"^# not run: (.+?)\s*$")
_PRINT = re.compile(r"^(print\(.*?\))(?:\s+#\s?(.*))?$")
_COMMENT = re.compile(r"^#\s?(.*)$")
_NOT_COMPILED = re.compile(r"^// not compiled: (.+?)\s*$")
# A comment that looks like a marker but is none of the above: a typo must not pass silently.
_MARKER_LIKE = re.compile(r"^(?:#|//) *(continue|block\b|requires?\b|not (?:run|compiled)\b)", re.I)


@dataclass
class Block:
    """One fenced code block: its language, its first code line in README.md, and markers."""

    language: str
    line: int
    code: str
    continues: str | None = None  # "previous", a label, or None
    label: str | None = None
    requires: list[str] = field(default_factory=list)
    not_run: str | None = None
    parent: Block | None = None

    @property
    def where(self) -> str:
        return f"README.md:{self.line}"

    def expected_output(self) -> list[str]:
        """What this block's one-line prints say they print, in order (see the module doc)."""
        expected: list[str] = []
        lines = self.code.splitlines()
        for i, text in enumerate(lines):
            printed = _PRINT.match(text)
            call = printed.group(1) if printed else ""
            if printed is None or call.count("(") != call.count(")"):
                continue  # not a one-line print
            parts = [printed.group(2)] if printed.group(2) else []
            for following in lines[i + 1 :]:
                comment = _COMMENT.match(following)
                if comment is None:
                    break
                parts.append(comment.group(1))
            said = " ".join(parts).strip()
            if said and not said.startswith("e.g."):
                expected.append(said)
        return expected

    def chain(self) -> list[Block]:
        """This block and the blocks it continues, the first to run first."""
        blocks: list[Block] = []
        block: Block | None = self
        while block is not None:
            blocks.append(block)
            block = block.parent
        return blocks[::-1]


def _read_markers(block: Block) -> None:
    python = block.language == "python"
    comment = "#" if python else "//"
    for text in block.code.splitlines():
        if not text.startswith(comment):
            break
        if python and _CONTINUES_PREVIOUS.match(text):
            block.continues = "previous"
        elif python and (m := _CONTINUES_NAMED.match(text)):
            block.continues = m.group(1)
        elif python and (m := _LABEL.match(text)):
            block.label = m.group(1)
        elif python and (m := _NOT_RUN.match(text)):
            block.not_run = m.group(1)
        elif not python and (m := _NOT_COMPILED.match(text)):
            block.not_run = m.group(1)
        elif m := _REQUIRES.match(text):
            block.requires.extend(r.strip() for r in m.group(1).split(","))
        elif _MARKER_LIKE.match(text):
            raise ValueError(f"{block.where}: unrecognised block marker {text!r}")


def parse(path: Path = README) -> list[Block]:
    """Every fenced block of ``path``, with its markers read and continuations linked.

    Raises ``ValueError`` naming the line for a malformed marker, a continuation with nothing to
    continue, or a label that is not unique.
    """
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        start = i + 1
        i = start
        while i < len(lines) and lines[i].rstrip() != "```":
            i += 1
        if i == len(lines):
            raise ValueError(f"{path.name}:{start}: code block never closed")
        blocks.append(Block(opening.group(1), start + 1, "\n".join(lines[start:i]) + "\n"))
        i += 1

    labels: dict[str, Block] = {}
    previous: Block | None = None
    for block in blocks:
        if block.language not in ("python", "cpp", "c"):
            continue
        _read_markers(block)
        if block.language != "python":
            continue
        if block.label is not None:
            if block.label in labels:
                raise ValueError(f"{block.where}: label {block.label!r} already used")
            labels[block.label] = block
        if block.continues == "previous":
            if previous is None:
                raise ValueError(f"{block.where}: continues the previous block, but none precedes")
            block.parent = previous
        elif block.continues is not None:
            if block.continues not in labels:
                raise ValueError(f"{block.where}: continues block {block.continues!r}, not above")
            block.parent = labels[block.continues]
        if block.parent is not None and block.parent.not_run and not block.not_run:
            raise ValueError(f"{block.where}: continues a block that is not run")
        previous = block
    return blocks


def python_chains(blocks: list[Block]) -> list[Block]:
    """The Python blocks no other block continues: running each one's chain runs every block."""
    python = [b for b in blocks if b.language == "python"]
    continued = {id(b.parent) for b in python if b.parent is not None}
    return [b for b in python if id(b) not in continued]
