"""Everything dbt-revsync knows of dbt itself.

- ``artifacts``: ``manifest.json`` and ``run_results.json`` read as versioned documents, and
  which nodes carry a sync;
- ``invocation``: the one place that runs dbt, through ``dbtRunner``;
- ``builds`` and ``build_state``: what a dbt session built and how its tests went (the
  post-run hook's record or run results), and the gate that decides which syncs go;
- ``cloud``: a dbt Cloud job run's artifacts, from its Administrative API;
- ``exposures``: one dbt exposure per sync, for lineage in ``dbt docs``.

dbt's Python API is reached only through ``dbtRunner`` (``invocation``) and the adapter
(``dbt_revsync.warehouse``).
"""

__all__: list[str] = []
