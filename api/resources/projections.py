"""The views as a service: their status, a rebuild without downtime, and job progress."""

from __future__ import annotations

import re

from flask import Response
from flask.views import MethodView

from workers.coordination import job_info, start_rebuild
from workers.runner import status_summary
from workers.search_jobs import start_search_rebuild

from ..auth import requires
from ..errors import Problem
from ..parsing import Blueprint
from ..responses import json_response
from ..search import search_service
from ..state import ledger_state
from ..view_schemas import JobSchema, ProjectionsSchema, RebuildSchema
from ..view_service import UNAVAILABLE_DOC, view_service

blp = Blueprint(
    "projections", __name__, url_prefix="/v1", description="The views in Redis and their jobs"
)

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_LOCATION = {"Location": {"description": "/v1/jobs/{job_id}", "schema": {"type": "string"}}}


@blp.route("/projections")
class Projections(MethodView):
    """``/v1/projections``."""

    @requires("reader")
    @blp.response(200, ProjectionsSchema)
    @blp.alt_response(503, **UNAVAILABLE_DOC)
    def get(self) -> Response:
        """The log's head, the views' checkpoint and lag, generation, rebuild and queues."""
        head = ledger_state().store.head()
        service = view_service()
        with service.reading():
            summary = status_summary(service.redis, service.config, head)
        summary["search"] = search_service().status(head)
        return json_response(summary)


@blp.route("/projections/rebuild")
class Rebuild(MethodView):
    """``/v1/projections/rebuild``."""

    @requires("admin")
    @blp.response(202, RebuildSchema, headers=_LOCATION)
    @blp.alt_response(503, **UNAVAILABLE_DOC)
    def post(self) -> Response:
        """Rebuild the views beside the live ones, then switch (reads never stop); the
        search index is rebuilt the same way by a job of its own.

        When a rebuild is already queued or running, answers that rebuild's job.
        """
        service = view_service()
        with service.reading():
            try:
                job_id = start_rebuild(service.redis, service.config, reason="api")
                start_search_rebuild(service.redis, service.config, reason="api")
            except RuntimeError as exc:  # the lock changed hands three times: a busy moment
                raise Problem(
                    503, f"{exc}; retry shortly.", slug="views-unavailable",
                    headers={"Retry-After": "1"},
                ) from None
        return json_response({"job_id": job_id}, 202, {"Location": f"/v1/jobs/{job_id}"})


@blp.route("/jobs/<string:job_id>")
class Jobs(MethodView):
    """``/v1/jobs/{job_id}``."""

    @requires("admin")
    @blp.response(200, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(503, **UNAVAILABLE_DOC)
    def get(self, job_id: str) -> Response:
        """A views job's status and progress (a rebuild's ``progress.percent``)."""
        service = view_service()
        ours = re.sub(r"[^A-Za-z0-9_-]", "-", service.config.namespace) + "-"
        info = None
        # only this ledger's jobs, and only ids of the shape it makes reach a Redis key
        if job_id.startswith(ours) and _JOB_ID.fullmatch(job_id):
            with service.reading():
                info = job_info(service.redis, job_id)
        if info is None:
            raise Problem(404, f"There is no job {job_id!r} (jobs expire a day after they end).",
                          slug="job-not-found")
        return json_response(info)
