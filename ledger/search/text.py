"""Text rules shared by every search backend: words, queries, trigrams, snippets.

Pure functions, no I/O. Both backends index the same normalised words (lower case,
diacritics removed, any script), parse a query the same way and score similarity and
cut snippets here, so SQLite and PostgreSQL answer alike.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: a word: a run of letters, digits, marks or connector punctuation, any script
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: the longest word kept (FTS5 and tsvector both refuse or truncate giant tokens)
MAX_WORD = 60
#: a query keeps at most this many terms (the rest are ignored)
MAX_TERMS = 12
#: how a snippet marks a matched word (the rest of it is HTML-escaped)
MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"


def fold_text(value: str) -> str:
    """Lower case without diacritics (``Bûshehr`` → ``bushehr``); other scripts kept."""
    if value.isascii():
        return value.lower()
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", value).lower())
    if decomposed.isascii():
        return decomposed
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(value: str) -> list[str]:
    """The indexed words of a text, in order (folded, at most ``MAX_WORD`` long)."""
    return [w[:MAX_WORD] for w in _WORD.findall(fold_text(value))]


def normalized(value: str) -> str:
    """A text as the index holds it: its words joined by single spaces."""
    return " ".join(words(value))


@dataclass(frozen=True)
class Query:
    """A parsed ``q``: terms (each a word or a phrase of words) and excluded words."""

    terms: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing would match (no positive term)."""
        return not self.terms

    def flat(self) -> list[str]:
        """Every positive word, in order."""
        return [w for term in self.terms for w in term]


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')


def parse_query(q: str) -> Query:
    """Parse ``q`` the web-search way: words, ``"quoted phrases"`` and ``-excluded`` words.

    ``OR`` is accepted and ignored: results holding every term come first anyway, then
    those holding only some of them.
    """
    terms: list[tuple[str, ...]] = []
    excluded: list[str] = []
    for match in _TOKEN.finditer(q):
        negative = bool(match[1] or match[3])
        raw = match[2] if match[2] is not None else match[4]
        if raw == "OR" and match[2] is None:
            continue
        found = tuple(words(raw))
        if not found:
            continue
        if negative:
            excluded.extend(found)
        elif match[2] is not None:
            terms.append(found)
        else:
            terms.extend((w,) for w in found)
    seen: dict[tuple[str, ...], None] = {}
    for term in terms:
        seen.setdefault(term, None)
    return Query(tuple(list(seen)[:MAX_TERMS]), tuple(dict.fromkeys(excluded))[:MAX_TERMS])


def edit_distance(a: str, b: str, bound: int = 2) -> int:
    """Levenshtein distance with adjacent transpositions, cut at ``bound + 1``."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
        if min(current) > bound:
            return bound + 1
        previous2, previous = previous, current
    return min(previous[-1], bound + 1)


#: the shortest word a misspelt query word is matched to (``irn`` is not ``in``)
MIN_GUESS = 3
#: the letters tried in ``typo_neighbours`` besides the word's own
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"


def allowed_typos(word: str) -> int:
    """How many edits a misspelt query word may be from an indexed one."""
    return 0 if len(word) < MIN_GUESS else 1 if len(word) < 7 else 2


def typo_neighbours(word: str) -> list[str]:
    """The words one edit from ``word`` that a prefix scan of the vocabulary cannot find:
    every one for a word of three letters, those changing the first letter for a longer
    one (a wrong, missing, extra or swapped first letter). Letters tried: a-z, 0-9 and
    the word's own (so a typo in another script is found when it repeats a letter of
    the word or drops or swaps one)."""
    if len(word) < MIN_GUESS:
        return []
    letters = sorted(set(_LETTERS) | set(word))
    found = {word[1:], word[1] + word[0] + word[2:]}
    found.update(c + word for c in letters)
    found.update(c + word[1:] for c in letters)
    if len(word) == MIN_GUESS:
        for i in range(1, len(word) + 1):
            found.add(word[:i] + word[i + 1:])
            if i < len(word) - 1:
                found.add(word[:i] + word[i + 1] + word[i] + word[i + 2:])
            found.update(word[:i] + c + word[i:] for c in letters)
            found.update(word[:i] + c + word[i + 1:] for c in letters if i < len(word))
    found.discard(word)
    return sorted(w for w in found if len(w) >= MIN_GUESS)


def close_words(word: str, candidates: Iterable[str], limit: int = 4) -> list[str]:
    """The indexed words within ``allowed_typos`` of a query word, closest first."""
    bound = allowed_typos(word)
    if bound == 0:
        return []
    scored = []
    for candidate in set(candidates):
        if candidate == word or len(candidate) < MIN_GUESS:
            continue
        distance = edit_distance(word, candidate, bound)
        if distance <= bound:
            scored.append((distance, candidate))
    return [w for _, w in sorted(scored)[:limit]]


def trigrams(value: str) -> set[str]:
    """pg_trgm's trigrams of a text: each word padded with two spaces before, one after."""
    found: set[str] = set()
    for word in words(value):
        padded = f"  {word} "
        found.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return found


def similarity(a: str | set[str], b: str | set[str]) -> float:
    """pg_trgm's similarity: shared trigrams over all trigrams of the two texts (0 to 1)."""
    ta = a if isinstance(a, set) else trigrams(a)
    tb = b if isinstance(b, set) else trigrams(b)
    if not ta or not tb:
        return 0.0
    shared = len(ta & tb)
    return shared / (len(ta) + len(tb) - shared)


def snippet(texts: Sequence[str], query: Query, expansions: Iterable[str] = (),
            width: int = 24) -> str:
    """An HTML-safe excerpt (at most ``width`` words) of the first text with the most
    matched words, each match wrapped in ``<mark>``; the statement's start if none."""
    wanted = set(query.flat()) | set(expansions)
    best: tuple[int, int, list[str], list[bool]] | None = None
    for order, value in enumerate(texts):
        tokens = re.findall(r"\S+", value or "")
        if not tokens:
            continue
        hits = [_matches(token, wanted) for token in tokens]
        count = sum(hits)
        if best is None or count > best[0]:
            best = (count, order, tokens, hits)
        if count and order == 0:
            break
    if best is None:
        return ""
    count, _, tokens, hits = best
    first = hits.index(True) if count else 0
    start = max(0, min(first - width // 3, len(tokens) - width))
    end = min(len(tokens), start + width)
    out = []
    for token, hit in zip(tokens[start:end], hits[start:end], strict=True):
        safe = html.escape(token, quote=False)
        out.append(f"{MARK_OPEN}{safe}{MARK_CLOSE}" if hit else safe)
    return ("… " if start else "") + " ".join(out) + (" …" if end < len(tokens) else "")


def _matches(token: str, wanted: set[str]) -> bool:
    for word in words(token):
        if word in wanted or any(len(w) >= 3 and word.startswith(w) for w in wanted):
            return True
    return False
