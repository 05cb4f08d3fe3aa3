"""The PostgreSQL server the tests may use, and URLs of schemas on it."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

POSTGRES_ENV = "LEDGER_TEST_POSTGRES_URL"
#: set to 1 (as CI may) to make a missing PostgreSQL a failure instead of a skip
REQUIRE_POSTGRES_ENV = "LEDGER_TEST_REQUIRE_POSTGRES"


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters added (``options`` values are appended, not replaced)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in params.items():
        if name == "options" and query.get("options"):
            value = f"{query['options']} {value}"
        query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def with_schema(url: str, schema: str) -> str:
    """A PostgreSQL URL whose sessions use ``schema`` as their search_path."""
    return with_query(url, options=f"-csearch_path={schema}")
