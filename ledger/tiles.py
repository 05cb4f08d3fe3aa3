"""C2SP tlog-tiles: tile coordinates, paths, entry bundles, and a root rebuilt from tiles.

A tile at level ``L`` with index ``N`` holds up to 256 consecutive hashes of tree level
``8 * L``: hash ``i`` is the RFC 9162 hash of leaves ``[(N*256 + i) * 256**L,
(N*256 + i + 1) * 256**L)``. Level 0 tiles hold leaf hashes. A full tile has 256
hashes; the rightmost tiles of a tree are partial, ``floor(size / 256**L) mod 256``
wide. Entry bundles hold the leaf inputs of a level-0 tile's leaves, each prefixed by
its big-endian uint16 length, so ``SHA-256(0x00 || entry)`` is the leaf hash
(https://c2sp.org/tlog-tiles). This module is pure: the caller fetches bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import merkle
from .errors import LedgerError
from .hashing import leaf_hash, node_hash

#: tree levels per tile level (a tile is a perfect subtree of height 8)
TILE_HEIGHT = 8
#: hashes in a full tile
TILE_WIDTH = 1 << TILE_HEIGHT
#: the largest tile level the spec allows
MAX_LEVEL = 63
#: the largest entry an entry bundle can hold (uint16 length prefix)
MAX_ENTRY = 0xFFFF

_ELEMENT = re.compile(r"[0-9]{3}")
_UPPER = re.compile(r"x[0-9]{3}")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_LEVEL = re.compile(r"0|[1-9][0-9]?")


class TileError(LedgerError):
    """A tile path is malformed, or tile data does not match what it must hash to."""


@dataclass(frozen=True, slots=True)
class Tile:
    """One tile: ``level`` (None for an entry bundle), ``index`` and ``width`` (1-256)."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def full(self) -> bool:
        """Whether the tile holds all 256 hashes (and so never changes)."""
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The tile's path under the log's prefix, e.g. ``tile/0/x001/x234/067.p/12``."""
        kind = "entries" if self.level is None else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{kind}/{index_path(self.index)}{suffix}"

    @property
    def tree_level(self) -> int:
        """The tree level of the tile's hashes (entry bundles: 0, the leaves)."""
        return TILE_HEIGHT * (self.level or 0)

    @property
    def first(self) -> int:
        """The index, at ``tree_level``, of the tile's first hash."""
        return self.index * TILE_WIDTH

    def leaves_needed(self) -> int:
        """The smallest tree size that holds every hash of this tile."""
        return (self.first + self.width) << self.tree_level


def index_path(index: int) -> str:
    """``N`` as zero-padded 3-digit path elements, all but the last prefixed by ``x``."""
    if index < 0:
        raise TileError("a tile index is not negative")
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    parts = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{p}" for p in parts[:-1]), parts[-1]])


def parse_tile_path(path: str) -> Tile:
    """Parse ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` (the part after ``tile/``)."""
    kind, _, rest = path.partition("/")
    width = TILE_WIDTH
    head, dot, tail = rest.partition(".p/")
    if dot:
        if not _WIDTH.fullmatch(tail) or int(tail) >= TILE_WIDTH:
            raise TileError(f"bad partial tile width {tail!r} (1 to 255)")
        width = int(tail)
    *upper, last = head.split("/")
    if not _ELEMENT.fullmatch(last) or not all(_UPPER.fullmatch(e) for e in upper):
        raise TileError(f"bad tile index path {head!r}")
    index = int("".join(e.lstrip("x") for e in [*upper, last]))
    if index_path(index) != head:
        raise TileError(f"tile index path {head!r} is not in canonical form")
    if kind == "entries":
        return Tile(None, index, width)
    if not _LEVEL.fullmatch(kind) or int(kind) > MAX_LEVEL:
        raise TileError(f"bad tile level {kind!r} (0 to {MAX_LEVEL})")
    return Tile(int(kind), index, width)


def tiles_of(size: int, *, entries: bool = False) -> list[Tile]:
    """Every tile of a tree of ``size`` leaves, level by level, full then partial.

    With ``entries`` the level-0 entry bundles are listed too (as level None).
    """
    if size < 0:
        raise TileError("a tree size is not negative")
    out: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)
        kinds: list[int | None] = [level, None] if entries and level == 0 else [level]
        for kind in kinds:
            out.extend(Tile(kind, n) for n in range(hashes // TILE_WIDTH))
            if hashes % TILE_WIDTH:
                out.append(Tile(kind, hashes // TILE_WIDTH, hashes % TILE_WIDTH))
        level += 1
    return out


def tile_bytes(hashes: Sequence[bytes]) -> bytes:
    """A tile's body: its hashes concatenated."""
    return b"".join(hashes)


def split_tile(data: bytes, width: int) -> list[bytes]:
    """The hashes of a tile body that must hold ``width`` of them."""
    if len(data) != width * merkle.HASH_SIZE:
        raise TileError(f"a tile of width {width} is {width * 32} bytes, not {len(data)}")
    return [data[i : i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry prefixed by its big-endian uint16 length."""
    parts: list[bytes] = []
    for entry in entries:
        if len(entry) > MAX_ENTRY:
            raise TileError(f"an entry of {len(entry)} bytes does not fit an entry bundle")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(entry)
    return b"".join(parts)


def split_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """The entries of a bundle that must hold ``width`` of them."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise TileError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise TileError("entry bundle ends inside an entry")
        out.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    if len(out) != width:
        raise TileError(f"entry bundle holds {len(out)} entries, not {width}")
    return out


def perfect_hash(hashes: Sequence[bytes]) -> bytes:
    """The RFC 9162 hash of a perfect subtree given its 2**k bottom hashes."""
    level = list(hashes)
    if not level or len(level) & (len(level) - 1):
        raise TileError("a perfect subtree has a power-of-two number of hashes")
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


#: Fetches a tile's body: ``fetch(tile) -> bytes``.
FetchTile = Callable[[Tile], bytes]


def rebuild_root(size: int, fetch: FetchTile) -> bytes:
    """The root of a tree of ``size`` leaves, read from its tiles and entry bundles alone.

    Every entry bundle's entries are hashed and compared with the level-0 tile, every
    full tile is hashed and compared with its hash in the level above, and the root is
    folded from the perfect subtrees, each computed from the tile hashes under it.
    Raises ``TileError`` naming the first tile that does not agree.
    """
    if size == 0:
        return merkle.EMPTY_ROOT
    levels: dict[int, list[bytes]] = {}
    for tile in tiles_of(size, entries=True):
        if tile.level is not None:
            levels.setdefault(tile.level, []).extend(split_tile(fetch(tile), tile.width))
    for tile in tiles_of(size, entries=True):
        if tile.level is None:
            entries = split_entry_bundle(fetch(tile), tile.width)
            got = [leaf_hash(e) for e in entries]
            if got != levels[0][tile.first : tile.first + tile.width]:
                raise TileError(f"entry bundle {tile.path} does not hash to level-0 tile")
        elif tile.full and tile.level + 1 in levels:
            above = levels[tile.level + 1]
            hashes = levels[tile.level][tile.first : tile.first + TILE_WIDTH]
            if tile.index >= len(above) or perfect_hash(hashes) != above[tile.index]:
                raise TileError(f"tile {tile.path} does not hash to its parent tile's hash")

    def node(level: int, index: int) -> bytes:
        """A perfect subtree's hash from the tile level at or just below it."""
        base = level // TILE_HEIGHT
        span = 1 << (level - base * TILE_HEIGHT)
        return perfect_hash(levels[base][index * span : (index + 1) * span])

    return merkle.root_at(size, node)
