"""Reads README.md's shell examples and the outputs it shows for them, and compares outputs by shape.

The README promises what a reader will see; `test_readme.py` runs the examples and holds the
README to that promise. Only what cannot repeat from run to run (ids, times, request ids,
digests, byte counts that depend on the image encoder's version) is normalised away.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Example:
    """One ```sh block, where it sits in the README, and the ```text block that shows its output."""

    section: str
    subsection: str
    line: int
    code: str
    shown: str

    @property
    def title(self) -> str:
        return f"README.md:{self.line} ({self.section} / {self.subsection or '-'})"


FENCE = re.compile(r"^```(\w*)\s*$")


def examples(readme: Path) -> list[Example]:
    """Every ```sh block in order; `shown` is the ```text block right after it, or empty."""
    section = subsection = ""
    blocks: list[tuple[str, str, str, int, str]] = []
    lines = readme.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if line.startswith("## "):
            section, subsection = line[3:].strip(), ""
        elif line.startswith("### "):
            subsection = line[4:].strip()
        elif fence and fence.group(1):
            end = lines.index("```", index + 1)
            blocks.append((fence.group(1), section, subsection, index + 1, "\n".join(lines[index + 1 : end])))
            index = end
        index += 1
    found: list[Example] = []
    for position, (language, section, subsection, line_number, body) in enumerate(blocks):
        if language != "sh":
            continue
        follower = blocks[position + 1] if position + 1 < len(blocks) else None
        shown = ""
        if (
            follower
            and follower[0] == "text"
            and adjacent(lines, line_number + body.count("\n") + 1, follower[3])
        ):
            shown = follower[4]
        found.append(Example(section, subsection, line_number, body, shown))
    return found


def adjacent(lines: list[str], closing_fence: int, next_opening: int) -> bool:
    """Only blank lines between one block's closing fence and the next block's opening one."""
    return all(not text.strip() for text in lines[closing_fence + 1 : next_opening - 1])


# Headers the README leaves out of its HTTP examples: they vary by server, time or body size.
LEFT_OUT_HEADERS = re.compile(
    r"^(date|server|allow|vary|content-length|x-frame-options|x-content-type-options|referrer-policy"
    r"|cross-origin-opener-policy|strict-transport-security|content-security-policy"
    r"|permissions-policy|cross-origin-resource-policy):",
    re.IGNORECASE,
)
UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
# The README's helpers print an id's first 8 hex digits as a column of a ` | `-separated line.
SHORT_ID = re.compile(r"(?:^|(?<= \| ))([0-9a-f]{8})(?= \| )")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
SUBSTITUTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[0-9a-f]{64}\b"), "<digest>"),
    # A SHA-256 in base64 (Merkle roots): they cover ids and timestamps, so they differ each run.
    (re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}="), "<base64-digest>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<request-id>"),
    (TIMESTAMP, "<time>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d\b"), "<date>"),
    # Variant sizes depend on the libwebp/libjpeg in the installed Pillow; originals do not.
    (re.compile(r'"(stored_bytes|bytes)": ?\d+'), r'"\1": <bytes>'),
    (re.compile(r"\b\d+ B\b"), "<bytes> B"),
    (re.compile(r"\bcurl/[\d.]+"), "curl/<version>"),
]


def shape(output: str) -> list[str]:
    """The lines of an output with what legitimately changes between runs replaced by placeholders.

    Ids become `<id1>`, `<id2>`, … in order of appearance, keyed by their first eight hex digits,
    so a full id and its 8-character prefix stay the same placeholder: the README's claim that the
    `Location` names the new property, or that a history line is about that photo, is still checked.
    """
    ids: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(1), f"<id{len(ids) + 1}>")

    replace: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
        *SUBSTITUTIONS[:2],
        (UUID, number),
        *SUBSTITUTIONS[2:],
        (SHORT_ID, number),
    ]
    lines = []
    for raw in output.replace("\r", "").splitlines():
        if LEFT_OUT_HEADERS.match(raw):
            continue
        line = raw.rstrip()
        for pattern, replacement in replace:
            line = pattern.sub(replacement, line)
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines
