"""The search index's contract: every backend passes the same tests (test_search_index.py).

Each test gets a fresh ledger URL and the index beside it; the log is real (a store),
the documents are folded by the workers' own code.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

from ledger.envelope import NewEvent
from ledger.events import validate_payload
from ledger.importing import plan_import
from ledger.search import Filters, SearchIndex, open_search_index
from ledger.store import EventStore, open_store
from workers.search import SearchProjector, catch_up_search, purge_search, rebuild_search

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed-2014-09-15.ndjson"

#: the hold-back set over the example story: (query, words of the statement that must be
#: in the top 5). Paraphrases, misspellings, other people's wording, accents, other cases.
HOLD_BACK = [
    ("Kerry asked Zarif for help", "Kerry personally asked"),
    ("kery zarrif", "Kerry personally asked"),
    ("did the US secretary of state request Iranian cooperation", "Kerry personally asked"),
    ("Zarîf refused the American demand", "Kerry personally asked"),
    ("Bushehr reactors", "nuclear power plants"),
    ("bushere nucular plants", "nuclear power plants"),
    ("bsuhehr", "nuclear power plants"),  # a typo in the second letter
    ("Rosatom construction Iran", "nuclear power plants"),
    ("Wendy Sherman Araqchi", "Wendy Sherman"),
    ("sherman araghchi nuclear talks", "Wendy Sherman"),
    ("ambassador Stuart Jones Iraq envoy", "Stuart Jones"),
    ("ambasador in Iraq asked Iran", "Stuart Jones"),
    ("Iran not welcome in the coalition", "not welcome"),
    ("coalition exclusion State Department", "not welcome"),
    ("Americans lying about accepting Iran", "lying"),
    ("khamenei says US lies", "lying"),
    # a typo in the first letter: wrong, missing, swapped with the second
    ("Gushehr", "nuclear power plants"),
    ("ushehr", "nuclear power plants"),
    ("Xarif", "Kerry personally asked"),
    ("ekrry", "Kerry personally asked"),
    # a typo in a word of three letters
    ("irq", "Stuart Jones"),
    ("nwe", "nuclear power plants"),
]

#: a generated corpus for the hold-back set's second half: pseudo-words, some of three
#: letters, in statements of 8 to 12 words; each query is three words of a statement, one
#: misspelt in one of these ways (``typo``)
TYPOS = ["first letter wrong", "first letter missing", "first two swapped",
         "inner letter wrong", "inner letter missing", "three-letter word"]
SYLLABLES = ["ka", "ri", "zo", "mu", "te", "shi", "an", "bel", "dor", "fa", "gu", "har",
             "jo", "lek", "man", "nu", "or", "pe", "ros", "sa", "tun", "vi", "wa", "yen"]


def seed(store: EventStore) -> dict[str, str]:
    """The example story in the store; claim ids by their ``claim_ref``."""
    plan = plan_import(SEED.read_text(encoding="utf-8").splitlines())
    store.append(plan.events, actor="test")
    return dict(plan.claims)


def claim(statement: str, **extra: Any) -> dict[str, Any]:
    return {"statement": statement, "claimant": {"name": extra.pop("claimant", "Ali Khamenei")},
            "appearance": {"outlet": extra.pop("outlet", "Fars News Agency"), **extra}}


def record(store: EventStore, claim_id: str, statement: str, **extra: Any) -> None:
    data = validate_payload("ClaimRecorded", claim(statement, **extra))
    store.append([NewEvent(claim_id, "ClaimRecorded", data)], actor="test")


def entry(store: EventStore, claim_id: str, kind: str, data: dict[str, Any]) -> str:
    event = NewEvent(claim_id, kind, validate_payload(kind, data))
    return store.append([event], actor="test")[0].id


def built(url: str, store: EventStore, partitions: int = 2) -> tuple[SearchIndex, int]:
    index = open_search_index(url)
    generation, _ = rebuild_search(index, store, store.scales, partitions, batch_size=7)
    return index, generation


def top(index: SearchIndex, generation: int, q: str, limit: int = 5, **names: str
        ) -> list[str]:
    filters = Filters(frozenset(f"{k}:{v}" for k, v in names.items()))
    page = index.search(generation, q, filters, limit=limit, cursor=None)
    return [hit.item["statement"] for hit in page.hits]


def check_hold_back_set(url: str) -> None:
    store = open_store(url)
    store.init()
    seed(store)
    index, g = built(url, store)
    misses = []
    for q, expected in HOLD_BACK:
        found = top(index, g, q)
        if not any(expected in statement for statement in found):
            misses.append((q, expected, found))
    assert misses == []


def typo(word: str, kind: str, rng: random.Random) -> str:
    """``word`` misspelt the way ``kind`` (one of ``TYPOS``) says."""
    other = rng.choice([c for c in "bcdfghjklmnpqrstvwxz" if c not in word[:2]])
    i = rng.randrange(1, len(word) - 1)
    return {"first letter wrong": other + word[1:], "first letter missing": word[1:],
            "first two swapped": word[1] + word[0] + word[2:],
            "inner letter wrong": word[:i] + other + word[i + 1:],
            "inner letter missing": word[:i] + word[i + 1:],
            "three-letter word": word[:1] + other + word[2:]}[kind]


def check_hold_back_set_over_a_generated_corpus(url: str) -> None:
    rng = random.Random(21)
    vocabulary: dict[str, None] = {}
    while len(vocabulary) < 500:
        vocabulary["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))] = None
    short = sorted({rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") + rng.choice("bdgklmnprst")
                    for _ in range(60)} - set(vocabulary))
    known = [w for w in vocabulary if len(w) >= 5] + short
    store = open_store(url)
    store.init()
    statements = {}
    for _ in range(200):
        text = rng.sample(known, rng.randint(8, 12))
        claim_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        record(store, claim_id, " ".join(text).capitalize() + ".", claimant="Generated")
        statements[claim_id] = text
    index, g = built(url, store)
    misses = []
    for n, (claim_id, text) in enumerate(rng.sample(sorted(statements.items()), 60)):
        kind = TYPOS[n % len(TYPOS)]
        picked = rng.sample([w for w in text if len(w) > 3], 3)
        if kind == "three-letter word":
            picked[0] = next((w for w in text if len(w) == 3), picked[0])
        meant = picked[0]
        picked[0] = typo(meant, kind, rng)
        page = index.search(g, " ".join(picked), Filters(), limit=5, cursor=None)
        # found, and by the word meant (the two right words alone would find most claims)
        if claim_id not in [h.item["id"] for h in page.hits] or meant not in page.terms:
            misses.append((kind, " ".join(picked), " ".join(text)))
    assert misses == []


def check_filters_paging_and_snippets(url: str) -> None:
    store = open_store(url)
    store.init()
    refs = seed(store)
    index, g = built(url, store)
    assert top(index, g, "Kerry", status="denied") == []
    disputed = top(index, g, "Kerry", status="disputed")
    assert any("Kerry personally" in s for s in disputed)
    assert top(index, g, "Kerry", tag="nuclear-talks") == [
        s for s in top(index, g, "Kerry", limit=50) if "Wendy Sherman" in s]
    seen: list[str] = []
    cursor = None
    while True:
        page = index.search(g, "iran", Filters(), limit=2, cursor=cursor)
        seen += [h.item["id"] for h in page.hits]
        assert all("<mark>" in h.snippet for h in page.hits)
        cursor = page.next
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(refs)
    assert index.search(g, "-iran", Filters(), limit=5, cursor=None).hits == []


def check_folds_voids_corrections_and_redactions(url: str) -> None:
    store = open_store(url)
    store.init()
    claim_id = "5d1c0c5e-7d7e-4a6b-9d43-0e5f5a3c2a11"
    record(store, claim_id, "The reactor at Bushehr is finished.")
    note_id = entry(store, claim_id, "NoteAdded",
                    {"text": "Spoke to Rosatom's spokesman Kupriyanov"})
    index, g = built(url, store)
    assert top(index, g, "Kupriyanov") == ["The reactor at Bushehr is finished."]
    entry(store, claim_id, "EntryCorrected", {"target_event_id": note_id, "kind": "void",
                                              "reason": "Wrong claim."})
    catch_up_search(index, store, store.scales, partition_of(claim_id), batch_size=100)
    assert top(index, g, "Kupriyanov") == []
    secret = entry(store, claim_id, "NoteAdded", {"text": "Source is Zhirinovskaya"})
    catch_up_search(index, store, store.scales, partition_of(claim_id), batch_size=100)
    assert top(index, g, "Zhirinovskaya") == ["The reactor at Bushehr is finished."]
    store.redact(secret, actor="test", reason="legal")
    purge_search(index, store, store.scales, claim_id)
    assert top(index, g, "Zhirinovskaya") == []
    assert top(index, g, "Zhirinovskya") == []  # nor its word, for misspelt queries
    assert "Zhirinovskaya" not in json.dumps([h.snippet for h in index.search(
        g, "reactor", Filters(), limit=5, cursor=None).hits])


def partition_of(claim_id: str) -> int:
    from workers.config import partition_of as part

    return part(claim_id, 2)


def check_batches_are_all_or_nothing(url: str) -> None:
    store = open_store(url)
    store.init()
    refs = seed(store)
    index, g = built(url, store)
    cps = index.checkpoints(g)
    head = store.head()
    assert cps == [head, head]
    # a stale checkpoint or a moved marker writes nothing
    assert not index.apply(g, 0, head - 1, head + 5, index.marker(g), {})
    assert not index.apply(g, 0, head, head + 5, index.marker(g) + 1, {})
    assert index.checkpoints(g) == [head, head]
    assert sorted(h.item["id"] for h in index.search(
        g, "iran", Filters(), limit=50, cursor=None).hits) == sorted(refs.values())
    assert index.count(g) == len(refs)


def check_rebuild_switches_generations_and_drops_old(url: str) -> None:
    store = open_store(url)
    store.init()
    seed(store)
    index, first = built(url, store)
    record(store, "0b8a4b5e-1111-4c1e-8e6b-3f2d1c0b9a87", "Tehran stopped enriching uranium.")
    index2, second = built(url, store)
    assert second > first
    live = index.live()
    assert live is not None
    assert live.generation == second
    assert top(index, second, "uranium") == ["Tehran stopped enriching uranium."]
    from workers.search import drop_old

    assert drop_old(index) == [first]
    assert [g.generation for g in index.generations()] == [second]
    index2.close()


def check_similar_claims(url: str) -> None:
    store = open_store(url)
    store.init()
    seed(store)
    index, g = built(url, store)
    near = index.similar(g, "John Kerry personally asked Iran's foreign minister Zarif for"
                         " cooperation against ISIL and Zarif refused", limit=3, threshold=0.45)
    assert [s.item["statement"][:40] for s in near] == [
        "Secretary of State John Kerry personally"]
    assert index.similar(g, "The price of saffron rose in Mashhad markets this spring",
                         limit=3, threshold=0.45) == []
    quote = index.similar(g, "Now they are telling a lie that they won't accept Iran in the"
                          " coalition", limit=1)
    assert quote
    assert "lying" in quote[0].item["statement"]
    assert quote[0].score > 0.4


def check_projector_resumes_where_the_checkpoint_is(url: str) -> None:
    store = open_store(url)
    store.init()
    seed(store)
    index = open_search_index(url)
    generation = index.create_generation(1)
    projector = SearchProjector(index, store, store.scales)
    half = store.head() // 2
    assert projector.run(generation.generation, 1, [0], batch_size=3, until=half) == half
    # a second projector (a new job after a kill -9) goes on from the checkpoint
    again = SearchProjector(index, store, store.scales)
    assert again.run(generation.generation, 1, [0], batch_size=4) == store.head()
    index.switch(generation.generation)
    fresh, g = built(url, store, partitions=1)
    assert index.snapshot(generation.generation) == fresh.snapshot(g)
    for q, _ in HOLD_BACK:
        assert top(index, generation.generation, q) == top(fresh, g, q)


def check_pages_rank_common_word_claims_above_weak_rare_word_ones(url: str) -> None:
    """The fill-in (claims holding some words) may skip the claims holding only a common
    word while a page of rare-word claims outranks them (SQLite); paging must still give
    exactly the one ranking: a common-word claim above the weak rare-word claims."""
    rng = random.Random(33)
    filler = sorted({"".join(rng.choice(SYLLABLES) for _ in range(3)) for _ in range(300)}
                    - {"zorbex", "quillon"})

    def words_(n: int) -> str:
        return " ".join(rng.choice(filler) for _ in range(n))

    store = open_store(url)
    store.init()
    kinds: dict[str, str] = {}
    for n in range(300):
        claim_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        kind, statement, quote = "filler", words_(6), words_(8)
        if n < 10:  # the rare word, said and repeated in a short statement
            kind, statement = "strong rare", f"Zorbex zorbex zorbex {words_(3)}"
        elif n < 25:  # the rare word once, deep in a long quote
            kind, quote = "weak rare", f"{words_(70)} zorbex {words_(70)}"
        elif n < 85:  # the common word (a third of the claims), repeated in a statement
            kind, statement = "strong common", f"Quillon quillon quillon {words_(3)}"
        elif n < 125:
            kind, quote = "weak common", f"{words_(20)} quillon {words_(20)}"
        record(store, claim_id, statement.capitalize() + ".", quote=quote)
        kinds[claim_id] = kind
    index, g = built(url, store)
    for filters in (Filters(), Filters(frozenset({"status:unverified"}))):
        whole = index.search(g, "quillon zorbex", filters, limit=200, cursor=None)
        order = [h.item["id"] for h in whole.hits]
        assert len(order) == 125
        assert whole.next is None
        first_weak_rare = min(i for i, c in enumerate(order) if kinds[c] == "weak rare")
        assert any(kinds[c] == "strong common" for c in order[:first_weak_rare])
        for size in (3, 5, 7):
            paged: list[tuple[str, float]] = []
            cursor = None
            while True:
                page = index.search(g, "quillon zorbex", filters, limit=size, cursor=cursor)
                paged += [(h.item["id"], h.score) for h in page.hits]
                cursor = page.next
                if cursor is None:
                    break
            assert paged == [(h.item["id"], h.score) for h in whole.hits]
