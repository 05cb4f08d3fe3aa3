"""Static security checks over the source: SQL is built only from constants and bound
parameters, and token digests are compared in constant time.

SQL may be composed from module-level string constants (``_SELECT + " WHERE …"``),
placeholder runs (``",".join("?" * len(chunk))``), ``int(...)`` values, psycopg's
``sql.SQL(...).format(sql.Identifier(...))`` and the statements both store backends share:
``styled(<constant text>)`` (``ledger/store/sql.py``: the text in ``?`` and ``%s`` style)
picked by a subscript (``_ADD[db.style]``); anything else flowing into
``.execute(``/``.executemany(`` — a parameter, an f-string of a variable, ``%`` or
``.format()`` of a string — fails the check.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "api", "workers")
#: reviewed by hand: the migration scripts are the module's MIGRATIONS constants (and
#: statements split from them), and the two Merkle queries are built by functions that
#: join only "?" placeholder runs (see ``sqlite/tree.py``: ``_keys_query``/``_leaves_query``)
ALLOWED = {
    ("ledger/store/postgres/schema.py", "script"),
    ("ledger/store/sqlite/schema.py", "statement"),
    ("ledger/store/sqlite/write.py", "head + ','.join([marks] * len(part))"),  # insert_rows
    ("ledger/store/sqlite/write.py", "head + marks"),  # insert_rows, one row
    ("ledger/store/sqlite/tree.py", "_leaves_query(len(leaves))"),
    ("ledger/store/sqlite/tree.py", "_keys_query(len(inner))"),
    ("ledger/store/sqlite/tree.py", "_keys_query(len(part)) + ' ORDER BY k'"),
    # a page of one claim's events: ``events.claim_page`` joins only styled constants
    ("ledger/store/events.py", "SELECT_EVENTS + where"),
    ("ledger/store/sqlite/store.py", "_ENVELOPES + where"),
    # the search's ranking queries: ``where`` is ``Ranking._where``'s constant conditions
    # (table names by ``int(...)``), and in ``_pruned`` a constant restriction before them
    ("ledger/search/sqlite_ranking.py", "f'SELECT count(*) FROM (SELECT 1 FROM"
     " sg{int(self.g)}_fts AS f WHERE sg{int(self.g)}_fts MATCH ?' + where + ' LIMIT ?)'"),
    ("ledger/search/sqlite_ranking.py", "f'SELECT f.rowid, bm25(sg{int(self.g)}_fts,"
     " {WEIGHTS}) AS rank FROM sg{int(self.g)}_fts AS f WHERE ' + where +"
     " ' ORDER BY rank LIMIT ?'"),
    ("ledger/search/sqlite_ranking.py", "f'SELECT d.claim_id, d.summary, d.statement,"
     " d.people, d.body, bm25(sg{int(g)}_fts, {WEIGHTS}) AS rank FROM sg{int(g)}_fts AS f"
     " JOIN sg{int(g)}_docs AS d ON d.rid = f.rowid WHERE ' + where +"
     " ' ORDER BY rank, d.claim_id LIMIT ?'"),
}


def _constants(tree: ast.Module, imported: frozenset[str] = frozenset()) -> set[str]:
    """Module-level names bound once to a constant-built string (``imported``: names the
    module imports that are such constants where they are defined)."""
    names: set[str] = set(imported)
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and _safe(node.value, names, {}):
                names.add(target.id)
    return names


def _safe(node: ast.expr, constants: set[str], local: dict[str, list[ast.expr]]) -> bool:
    """Whether an expression can only produce constant SQL text and placeholders."""
    def ok(child: ast.expr) -> bool:
        return _safe(child, constants, local)

    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | int)
    if isinstance(node, ast.Name):
        if node.id in constants:
            return True
        bound = local.get(node.id)
        return bool(bound) and all(_safe(v, constants, {}) for v in bound)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return ok(node.left) and ok(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):  # "?" * n, ["(?,?)"] * n
        return ok(node.left) or ok(node.right)
    if isinstance(node, ast.List | ast.Tuple):
        return all(ok(e) for e in node.elts)
    if isinstance(node, ast.JoinedStr):
        return all(ok(v.value) if isinstance(v, ast.FormattedValue) else True
                   for v in node.values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
        "int", "len"
    ):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == (
        "styled"
    ):  # ledger.store.sql.styled: the same constant text with its "?"s as "%s"
        return len(node.args) == 1 and not node.keywords and ok(node.args[0])
    if isinstance(node, ast.Subscript):  # one form of a styled constant: a constant too
        return ok(node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        func = node.func
        if func.attr == "join" and isinstance(func.value, ast.Constant):
            return all(ok(a) for a in node.args)
        if func.attr == "format" and ast.unparse(func.value).startswith("sql.SQL("):
            return all(ast.unparse(a).startswith(("sql.Identifier(", "sql.Literal("))
                       for a in node.args)
    return False


@cache
def _parsed(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once per run (modules import each other's constants
    transitively, so without this a module deep in the chains is parsed hundreds of times)."""
    return ast.parse(path.read_text(encoding="utf-8"))


@cache
def _module_constants(path: Path) -> frozenset[str]:
    """``_constants`` of the module at ``path``, its own imports counted."""
    tree = _parsed(path)
    return frozenset(_constants(tree, _imported_constants(tree, path)))


def _imported_constants(tree: ast.Module, path: Path) -> frozenset[str]:
    """Names imported from a module of the same package tree (``from .x import NAME``,
    ``from ..x import NAME``) that are constants there, itself counting its own imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level >= 1 and node.module:
            source = path.parents[node.level - 1].joinpath(*node.module.split(".")).with_suffix(
                ".py"
            )
            if source.exists():
                there = _module_constants(source)
                names |= {a.asname or a.name for a in node.names if a.name in there}
    return frozenset(names)


def unsafe_sql() -> list[str]:
    """``path:line: expression`` for every execute whose SQL is not provably constant."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = _parsed(path)
            constants = set(_module_constants(path))
            for scope in ast.walk(tree):
                if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                local: dict[str, list[ast.expr]] = {}
                for node in ast.walk(scope):
                    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                        node.targets[0], ast.Name
                    ):
                        local.setdefault(node.targets[0].id, []).append(node.value)
                for node in ast.walk(scope):
                    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and node.func.attr in ("execute", "executemany") and node.args
                            and not _safe(node.args[0], constants, local)):
                        where, text = str(path.relative_to(ROOT)), ast.unparse(node.args[0])
                        if (where, text) not in ALLOWED:
                            found.append(f"{where}:{node.lineno}: {text}")
    return sorted(set(found))


def test_sql_is_built_only_from_constants_and_bound_parameters() -> None:
    assert unsafe_sql() == []


def test_the_check_catches_sql_built_from_input() -> None:
    source = (
        "def f(conn, name, q):\n"
        "    conn.execute(f'SELECT * FROM t WHERE n = {name}')\n"
        "    conn.execute('SELECT * FROM t WHERE n = %s' % name)\n"
        "    conn.execute('SELECT * FROM t WHERE n = {}'.format(name))\n"
        "    conn.execute('SELECT * FROM t WHERE n = ' + name)\n"
        "    conn.executemany(q, [])\n"
        "    sql = 'SELECT ' + name\n"
        "    conn.execute(sql)\n"
        "    conn.execute('SELECT * FROM t WHERE n = ?', (name,))\n"
    )
    tree = ast.parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and n.func.attr.startswith("execute")]
    local = {"sql": [ast.parse("'SELECT ' + name", mode="eval").body]}
    verdicts = [_safe(c.args[0], set(), local) for c in calls]
    assert verdicts == [False] * 6 + [True]


def test_the_check_accepts_a_styled_constant_and_nothing_styled_from_input() -> None:
    module = ast.parse(
        "from .sql import styled\n"
        "_ADD = styled('INSERT INTO t (a) VALUES (?)')\n"
        "_BAD = styled(NAME)\n"
        "def f(conn, db, name, rows):\n"
        "    conn.execute(_ADD[db.style], (name,))\n"
        "    conn.execute(_ADD[db.style] + ' ON CONFLICT DO NOTHING', (name,))\n"
        "    conn.execute(_BAD[db.style])\n"
        "    conn.execute(styled(name)[db.style])\n"
        "    conn.execute(name[db.style])\n"
        "    conn.execute(rows[0])\n"
    )
    constants = _constants(module)
    assert constants == {"_ADD"}
    calls = [n for n in ast.walk(module) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and n.func.attr == "execute"]
    assert [_safe(c.args[0], constants, {}) for c in calls] == [True, True] + [False] * 4


def test_token_digests_are_compared_in_constant_time() -> None:
    store = (ROOT / "ledger" / "store" / "tokens.py").read_text(encoding="utf-8")
    assert "hmac.compare_digest(" in store
    for path in [*(ROOT / "ledger" / "store").rglob("*.py"), ROOT / "api" / "auth.py"]:
        text = path.read_text(encoding="utf-8")
        assert "token_sha256 ==" not in text, path
        assert "== token_sha256" not in text, path


def test_tokens_are_stored_only_as_their_sha256(tmp_path: Path) -> None:
    import hashlib
    import sqlite3

    from api import credentials as tokens
    from ledger.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.init()
    made = [tokens.create(store, name=f"t-{role}", role=role, created_by="test")[1]
            for role in tokens.ROLES]
    store.close()
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        rows = conn.execute("SELECT * FROM api_tokens").fetchall()
        digests = {r[0] for r in conn.execute("SELECT token_sha256 FROM api_tokens")}
    dump = repr(rows)
    assert all(token not in dump and token[4:] not in dump for token in made)
    assert digests == {hashlib.sha256(t.encode()).hexdigest() for t in made}
    raw = (tmp_path / "ledger.db").read_bytes()
    assert all(token.encode() not in raw for token in made)
