"""Strict JSON text: what ``json.loads`` accepts, less what the ledger refuses to guess at.

Refused, each with a sentence saying why (``JSONTextError``): a byte order mark, bytes
that are not UTF-8 and NUL characters (so UTF-16 and UTF-32, which ``json.loads`` would
detect and accept), duplicate object keys (``json.loads`` keeps the last silently), nesting deeper
than ``MAX_DEPTH``, integers outside 64 bits or longer than ``MAX_NUMBER_CHARS``
(before Python's own 4,300-digit limit, whose hint mentions ``sys``), numbers that
overflow a float, and NaN or Infinity. Plain syntax errors are ``JSONSyntaxError``.

The C scanner does the parsing; the additions are a hook per object and per number,
and a walk of the result only when the text holds more than ``MAX_DEPTH`` brackets.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: the deepest nesting of arrays and objects accepted (the ledger's payloads use 4)
MAX_DEPTH = 64
#: the longest number literal accepted (a 64-bit integer has at most 20 characters)
MAX_NUMBER_CHARS = 40
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_BOM = "\ufeff"


class JSONTextError(ValueError):
    """A JSON text the ledger refuses; the message says why, as a phrase."""


class JSONSyntaxError(JSONTextError):
    """Not JSON at all: the message names the position, as ``json`` reports it."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONTextError(f"the key {json.dumps(key)[:80]} appears twice in one object")
            seen.add(key)
    return found


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise JSONTextError(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise JSONTextError("an integer outside the 64-bit range")
    return value


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JSONTextError(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    value = float(text)
    if not math.isfinite(value):
        raise JSONTextError("a number too large for a double")
    return value


def _constant(name: str) -> Any:
    raise JSONTextError(f"{name} (not a JSON number)")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_integer, parse_float=_float, parse_constant=_constant
)


def loads(data: bytes | str) -> Any:
    """The value of a strict JSON text (bytes must be UTF-8); ``JSONTextError`` if refused."""
    if isinstance(data, bytes | bytearray):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONTextError(f"not UTF-8 (byte {exc.start + 1})") from None
    else:
        text = data
    if text.startswith(_BOM):
        raise JSONTextError("a byte order mark before the JSON text")
    if "\x00" in text:  # never valid in JSON; UTF-16 and UTF-32 texts are full of them
        raise JSONTextError("a NUL character (send UTF-8, not UTF-16 or UTF-32)")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JSONSyntaxError(
            f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise JSONTextError(f"nested deeper than {MAX_DEPTH} levels") from None
    if text.count("[") + text.count("{") > MAX_DEPTH:
        check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise ``JSONTextError`` when arrays and objects nest deeper than ``limit``."""
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    raise JSONTextError(f"nested deeper than {limit} levels")
                stack.append((child, depth + 1))
