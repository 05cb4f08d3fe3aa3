"""API tokens as admins may see them: every token (never the secret) and who did what."""

from __future__ import annotations

import dataclasses

from flask import Response
from flask.views import MethodView
from marshmallow import RAISE

from ..auth import requires
from ..parsing import Blueprint
from ..responses import json_response
from ..schemas import TokenListSchema, TokenLogSchema
from ..state import ledger_state
from .log import NoQuerySchema

blp = Blueprint("tokens", __name__, url_prefix="/v1/tokens", description="API tokens (admin)")


@blp.route("")
class Tokens(MethodView):
    """``/v1/tokens``."""

    @requires("admin")
    @blp.arguments(NoQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, TokenListSchema)
    def get(self, _query: dict[str, object]) -> Response:
        """Every token ever created, revoked ones included (create them with the CLI)."""
        tokens = ledger_state().store.list_tokens()
        return json_response({"items": [dataclasses.asdict(t) for t in tokens]})


@blp.route("/log")
class TokenLog(MethodView):
    """``/v1/tokens/log``."""

    @requires("admin")
    @blp.arguments(NoQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, TokenLogSchema)
    def get(self, _query: dict[str, object]) -> Response:
        """Who created or revoked which token, and when, oldest first."""
        return json_response({"items": ledger_state().store.token_log()})
