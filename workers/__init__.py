"""Current-state views of the ledger in Redis, kept by RQ jobs.

For the HTTP layer: ``workers.views.ViewReader`` (reads, ``min_position`` waits,
``projections``), ``workers.coordination.request_catch_up`` (after an append commits),
``workers.coordination.start_rebuild`` and ``workers.coordination.job_info``.
For operators: ``workers.runner.run_worker`` and ``workers.runner.status_summary``.
"""
