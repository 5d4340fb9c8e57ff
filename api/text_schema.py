"""JSON Schema patterns that say exactly which text the domain accepts, for clients and fuzzers.

A schema looser than the server makes generated clients send what is refused; a stricter one
makes the server accept what the schema calls invalid. These are built from the same rules as
``domain.values.clean_text`` (Unicode categories as this Python knows them) and the ISO code lists.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable
from itertools import groupby

# clean_text refuses these categories anywhere in the trimmed text; Cf (format) characters are
# refused too, except a joiner between two visible characters.
_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_JOINERS = r"\u200c\u200d"


def _escape(code: int) -> str:
    # \uXXXX is understood by ECMA-262 and Python alike; astral characters go in literally.
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


def _ranges(codes: Iterable[int]) -> str:
    runs = [[code for _, code in run] for _, run in groupby(enumerate(codes), lambda pair: pair[1] - pair[0])]
    return "".join(
        _escape(run[0]) if len(run) == 1 else f"{_escape(run[0])}-{_escape(run[-1])}" for run in runs
    )


_REFUSED_CLASS = _ranges(
    code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) in _REFUSED
)
VISIBLE = f"[^\\s{_REFUSED_CLASS}]"
# Whitespace inside the text: spaces, but no line breaks, tabs or other control characters.
INNER_SPACE = r"[^\S\u0000-\u001f\u007f-\u009f\u2028\u2029]"
_TEXT = f"{VISIBLE}(?:[{_JOINERS}]?{VISIBLE}|{INNER_SPACE}+{VISIBLE})*"


def text_pattern(*, required: bool = True) -> str:
    """Text as ``clean_text`` takes it: anything around it trims away, inside only what shows."""
    return rf"^\s*{_TEXT}\s*$" if required else rf"^\s*(?:{_TEXT}\s*)?$"


def code_pattern(codes: Iterable[str]) -> str:
    """One of ``codes`` in any letter case, as the serializers upper-case before checking."""
    by_first = groupby(sorted(codes), lambda code: code[0])
    alternatives = "|".join(
        f"[{first}{first.lower()}]"
        + "(?:"
        + "|".join("".join(f"[{c}{c.lower()}]" for c in code[1:]) for code in group)
        + ")"
        for first, group in by_first
    )
    return rf"^\s*(?:{alternatives})\s*$"
