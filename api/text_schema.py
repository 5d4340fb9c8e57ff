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
# Lone surrogates (Cs) are refused too, but cannot be written in a pattern that regex engines
# other than Python's accept; UTF-8 (what clients send) cannot carry them anyway.
_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp"})
_JOINERS = r"\u200c\u200d"


def _escape(code: int) -> str:
    # \uXXXX is understood by ECMA-262 and Python alike; astral characters go in literally.
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


def _ranges(codes: Iterable[int]) -> str:
    runs = [[code for _, code in run] for _, run in groupby(enumerate(codes), lambda pair: pair[1] - pair[0])]
    return "".join(
        _escape(run[0]) if len(run) == 1 else f"{_escape(run[0])}-{_escape(run[-1])}" for run in runs
    )


_ALL = range(sys.maxunicode + 1)
# Spelled out rather than \s, which means something else in ECMA-262, Rust and Python's ASCII mode:
# exactly what str.strip() removes.
_SPACES = [code for code in _ALL if chr(code).isspace()]
_REFUSED_CODES = [code for code in _ALL if unicodedata.category(chr(code)) in _REFUSED]
SPACE = f"[{_ranges(_SPACES)}]"
VISIBLE = f"[^{_ranges(sorted({*_SPACES, *_REFUSED_CODES}))}]"
# Whitespace inside the text: spaces, but no line breaks, tabs or other control characters.
INNER_SPACE = f"[{_ranges(code for code in _SPACES if code not in set(_REFUSED_CODES))}]"
_TEXT = f"{VISIBLE}(?:[{_JOINERS}]?{VISIBLE}|{INNER_SPACE}+{VISIBLE})*"


def text_pattern(*, required: bool = True) -> str:
    """Text as ``clean_text`` takes it: anything around it trims away, inside only what shows.

    Not required: also only spaces, which trim away to nothing.
    """
    # Written as alternatives ("text, or text between spaces"): schemathesis rewrites a leading
    # "spaces*" under maxLength into a form it then cannot draw from.
    if required:
        return f"^(?:{_TEXT}|{SPACE}*{_TEXT}{SPACE}*)$"
    # Not "": drf-spectacular gives a blank-allowed field a second branch for it (oneOf).
    return f"^(?:{SPACE}+|{SPACE}*{_TEXT}{SPACE}*)$"


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
    return f"^{SPACE}*(?:{alternatives}){SPACE}*$"


def digits_up_to(bound: int) -> str:
    """ASCII digits (leading zeros allowed) whose value is at most ``bound``, as a regex group.

    Shorter strings are always below it; one of the same length is below it if, at the first
    digit where they differ, its digit is smaller.
    """
    digits = str(bound)
    alternatives = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for index, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - index - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            smaller = "0" if digit == "1" else f"[0-{int(digit) - 1}]"
            alternatives.append(f"{digits[:index]}{smaller}{tail}")
    alternatives.append(digits)
    return f"(?:{'|'.join(alternatives)})"
