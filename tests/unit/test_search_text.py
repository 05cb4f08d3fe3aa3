"""The search index's pure text rules: words, queries, typos, trigram similarity, snippets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.search.base import InvalidSearch, decode_offset, encode_offset
from ledger.search.text import (
    close_words,
    edit_distance,
    fold_text,
    normalized,
    parse_query,
    similarity,
    snippet,
    trigrams,
    words,
)

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)


def naive_distance(a: str, b: str) -> int:
    """Optimal string alignment distance, the textbook way."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def test_words_fold_case_and_accents_and_keep_other_scripts() -> None:
    assert words("Bûshehr's NUCLEAR plant") == ["bushehr", "s", "nuclear", "plant"]
    assert words("Khāmene'ī — خامنه‌ای") == ["khamene", "i", "خامنه", "ای"]
    assert words("Ростатом, 2014") == ["ростатом", "2014"]
    assert fold_text("Zarîf") == "zarif"


@given(TEXT)
def test_normalising_twice_changes_nothing(value: str) -> None:
    once = normalized(value)
    assert normalized(once) == once
    assert words(once) == words(value)


@given(st.text("abcde", max_size=8), st.text("abcde", max_size=8))
def test_edit_distance_is_the_textbook_one_within_its_bound(a: str, b: str) -> None:
    assert edit_distance(a, b, 2) == min(naive_distance(a, b), 3)


@given(TEXT, TEXT)
def test_similarity_is_symmetric_and_between_0_and_1(a: str, b: str) -> None:
    score = similarity(a, b)
    assert 0.0 <= score <= 1.0
    assert score == similarity(b, a)
    if trigrams(a):
        assert similarity(a, a) == 1.0


def test_similarity_is_pg_trgm_s() -> None:
    # SELECT similarity('word', 'two words') in PostgreSQL: 0.363636
    assert round(similarity("word", "two words"), 6) == 0.363636


def test_queries_have_words_phrases_and_exclusions() -> None:
    query = parse_query('Kerry "nuclear power" -Zarif OR Bûshehr kerry')
    assert query.terms == (("kerry",), ("nuclear", "power"), ("bushehr",))
    assert query.excluded == ("zarif",)
    assert parse_query("  -only ").empty
    assert parse_query('"unclosed phrase').terms == (("unclosed", "phrase"),)


@given(TEXT)
def test_any_query_parses(q: str) -> None:
    query = parse_query(q)
    assert all(term and all(term) for term in query.terms)


def test_misspelt_words_find_close_ones_only() -> None:
    vocabulary = ["bushehr", "busher", "bush", "kerry", "kerr", "zarif"]
    assert close_words("bushere", vocabulary) == ["busher", "bushehr"]
    assert close_words("kery", vocabulary) == ["kerr", "kerry"]
    assert close_words("ira", vocabulary) == []  # short words are not guessed


def test_snippets_mark_matches_and_escape_html() -> None:
    text = "The <b>Bushehr</b> plant & Iran's nuclear programme"
    cut = snippet([text], parse_query("bushehr nuclear"))
    assert "<b>" not in cut
    assert "<mark>&lt;b&gt;Bushehr&lt;/b&gt;</mark>" in cut
    assert "<mark>nuclear</mark>" in cut
    assert "&amp;" in cut


@given(TEXT, TEXT)
def test_a_snippet_never_carries_markup_of_its_own(text: str, q: str) -> None:
    cut = snippet([text], parse_query(q)).replace("<mark>", "").replace("</mark>", "")
    assert "<" not in cut
    assert ">" not in cut


@given(st.integers(1, 999))
def test_search_cursors_round_trip(offset: int) -> None:
    assert decode_offset(encode_offset(offset)) == offset


def test_foreign_cursors_are_refused() -> None:
    for bad in ("", "x", encode_offset(5000), "cTotMQ"):
        try:
            decode_offset(bad)
        except InvalidSearch:
            continue
        raise AssertionError(bad)
