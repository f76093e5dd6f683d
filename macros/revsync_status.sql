{#-
  Reading the state tables back: `dbt-revsync status` and `push --due`. Each macro returns
  a select statement; override one for another warehouse with a `<adapter>__` version.
-#}

{#- The last `per_sync` runs of every sync, newest first. -#}
{% macro revsync_recent_runs_sql(schema_relation, per_sync) -%}
  {{ return(adapter.dispatch('revsync_recent_runs_sql', 'dbt_revsync')(schema_relation, per_sync)) }}
{%- endmacro %}

{% macro default__revsync_recent_runs_sql(schema_relation, per_sync) -%}
  select * from (
    select r.*, row_number() over (partition by r.sync_id order by r.started_at desc) as revsync_rank
    from {{ schema_relation }}.revsync_runs r
  ) ranked
  where revsync_rank <= {{ per_sync | int }}
  order by sync_id, started_at desc
{%- endmacro %}


{#- The first `per_run` rejects of each of the given runs, in the order they happened. -#}
{% macro revsync_first_rejects_sql(schema_relation, run_ids, per_run) -%}
  {{ return(adapter.dispatch('revsync_first_rejects_sql', 'dbt_revsync')(schema_relation, run_ids, per_run)) }}
{%- endmacro %}

{% macro default__revsync_first_rejects_sql(schema_relation, run_ids, per_run) -%}
  {%- set ids = [] -%}{%- for r in run_ids -%}{%- do ids.append(dbt_revsync.revsync_literal(r)) -%}{%- endfor -%}
  select run_id, sync_id, record_key, operation, error_code, error_message from (
    select x.*, row_number() over (partition by x.run_id, x.sync_id order by x.{{ adapter.quote('at') }}, x.record_key) as revsync_rank
    from {{ schema_relation }}.revsync_rejects x
    where x.run_id in ({{ ids | join(', ') if ids else 'null' }})
  ) ranked
  where revsync_rank <= {{ per_run | int }}
  order by sync_id, run_id, revsync_rank
{%- endmacro %}


{#- When each sync last finished a run that delivered every row it did not reject (status
    success or rejected; its start time). -#}
{% macro revsync_last_success_sql(schema_relation) -%}
  {{ return(adapter.dispatch('revsync_last_success_sql', 'dbt_revsync')(schema_relation)) }}
{%- endmacro %}

{% macro default__revsync_last_success_sql(schema_relation) -%}
  select sync_id, max(started_at) as last_success
  from {{ schema_relation }}.revsync_runs
  where status in ('success', 'rejected')
  group by sync_id
{%- endmacro %}
