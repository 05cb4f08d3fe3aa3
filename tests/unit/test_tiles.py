"""C2SP tlog-tiles math: paths, tile sets, entry bundles, and a root rebuilt from tiles."""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle, tiles
from ledger.hashing import leaf_hash, node_hash


def reference_mth(leaves: tuple[bytes, ...]) -> bytes:
    """RFC 9162 MTH, straight from the definition (no stored nodes, no tiles)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(reference_mth(leaves[:split]), reference_mth(leaves[split:]))


def served(entries: list[bytes]) -> dict[str, bytes]:
    """What a log of ``entries`` serves, computed from the spec's formula for each tile."""
    hashes = tuple(leaf_hash(e) for e in entries)

    @cache
    def mth(start: int, end: int) -> bytes:
        return reference_mth(hashes[start:end])

    out: dict[str, bytes] = {}
    for tile in tiles.tiles_of(len(entries), entries=True):
        if tile.level is None:
            out[tile.path] = tiles.entry_bundle(entries[tile.first : tile.first + tile.width])
            continue
        span = 256**tile.level
        out[tile.path] = b"".join(
            mth((tile.index * 256 + i) * span, (tile.index * 256 + i + 1) * span)
            for i in range(tile.width)
        )
    return out


def entries_of(count: int, salt: int = 0) -> list[bytes]:
    return [f'{{"position":{i + 1},"salt":{salt}}}'.encode() for i in range(count)]


def test_an_index_is_written_in_three_digit_elements_with_x_prefixes() -> None:
    assert tiles.index_path(1234067) == "x001/x234/067"
    assert tiles.index_path(0) == "000"
    assert tiles.index_path(1000) == "x001/000"
    assert tiles.Tile(0, 1234067, 12).path == "tile/0/x001/x234/067.p/12"
    assert tiles.Tile(None, 5).path == "tile/entries/005"


@given(
    level=st.one_of(st.none(), st.integers(0, 63)),
    index=st.integers(0, 10**15),
    width=st.integers(1, 256),
)
def test_every_tile_path_parses_back_to_its_tile(level: int | None, index: int, width: int) -> None:
    tile = tiles.Tile(level, index, width)
    assert tiles.parse_tile_path(tile.path.removeprefix("tile/")) == tile


@pytest.mark.parametrize(
    "path",
    [
        "0/1", "0/0001", "0/x000/001", "0/x01/000", "0/001/000", "00/000", "64/000", "-1/000",
        "0/000.p/0", "0/000.p/256", "0/000.p/01", "0/000.p/", "0/000/", "entry/000", "0/",
        "0/x001", "0/abc",
    ],
)
def test_a_malformed_tile_path_is_refused(path: str) -> None:
    with pytest.raises(tiles.TileError):
        tiles.parse_tile_path(path)


def test_the_spec_example_of_a_tree_of_70000_leaves_has_those_tiles() -> None:
    paths = [t.path for t in tiles.tiles_of(70_000)]
    level0 = [p for p in paths if p.startswith("tile/0/")]
    assert len(level0) == 274
    assert level0[-1] == "tile/0/273.p/112"
    assert [p for p in paths if not p.startswith("tile/0/")] == [
        "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1",
    ]
    assert [t.path for t in tiles.tiles_of(256)] == ["tile/0/000", "tile/1/000.p/1"]
    assert tiles.tiles_of(0) == []


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 1300), salt=st.integers(0, 3))
def test_the_root_rebuilt_from_tiles_alone_is_the_tree_root(size: int, salt: int) -> None:
    entries = entries_of(size, salt)
    files = served(entries)
    root = tiles.rebuild_root(size, lambda tile: files[tile.path])
    assert root == merkle.root_from_leaves(leaf_hash(e) for e in entries)


def test_a_tree_with_three_tile_levels_rebuilds_its_root() -> None:
    size = 256 * 256 + 300
    entries = entries_of(size)
    files = served(entries)
    assert "tile/2/000.p/1" in files
    root = tiles.rebuild_root(size, lambda tile: files[tile.path])
    assert root == merkle.root_from_leaves(leaf_hash(e) for e in entries)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 700), data=st.data())
def test_changing_any_served_byte_is_caught(size: int, data: st.DataObject) -> None:
    files = served(entries_of(size))
    path = data.draw(st.sampled_from(sorted(files)))
    body = bytearray(files[path])
    at = data.draw(st.integers(0, len(body) - 1))
    body[at] ^= 1 << data.draw(st.integers(0, 7))
    files[path] = bytes(body)
    expected = merkle.root_from_leaves(leaf_hash(e) for e in entries_of(size))
    try:
        root = tiles.rebuild_root(size, lambda tile: files[tile.path])
    except tiles.TileError:
        return
    assert root != expected  # a changed top tile changes the root itself


def test_an_entry_bundle_prefixes_each_entry_with_its_length() -> None:
    bundle = tiles.entry_bundle([b"ab", b"", b"x" * 300])
    assert bundle == b"\x00\x02ab\x00\x00\x01\x2c" + b"x" * 300
    assert tiles.split_entry_bundle(bundle, 3) == [b"ab", b"", b"x" * 300]
    for bad in (bundle[:-1], bundle + b"\x00"):
        with pytest.raises(tiles.TileError):
            tiles.split_entry_bundle(bad, 3)
    with pytest.raises(tiles.TileError):
        tiles.entry_bundle([b"x" * 65536])


def test_a_tile_needs_the_leaves_under_its_last_hash() -> None:
    assert tiles.Tile(0, 0, 5).leaves_needed() == 5
    assert tiles.Tile(1, 0, 1).leaves_needed() == 256
    assert tiles.Tile(1, 2).leaves_needed() == 3 * 256 * 256
    assert tiles.Tile(None, 1, 3).leaves_needed() == 259
