{#-
  `dbt-revsync listen`: the dbt Cloud runs it accepted, one row per run, in the state schema
  (table revsync_listen_runs). A run is `accepted` when its webhook was taken, then `pushed`
  or `failed`; a listener that starts again pushes every run still `accepted`, and never
  takes a run id it already holds. Each macro returns SQL text (or a list of statements);
  override one for another warehouse with a `<adapter>__` version.
-#}

{% macro revsync_listen_relation(schema_name) -%}
  {{ return(api.Relation.create(database=target.get('database'), schema=schema_name, identifier='revsync_listen_runs')) }}
{%- endmacro %}


{% macro revsync_listen_ddl(schema_name) -%}
  {{ return(adapter.dispatch('revsync_listen_ddl', 'dbt_revsync')(schema_name)) }}
{%- endmacro %}

{% macro default__revsync_listen_ddl(schema_name, schema_with_database=true) -%}
  {%- set text = dbt_revsync.revsync_type_string() -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- set num = dbt.type_bigint() -%}
  {%- set relation = dbt_revsync.revsync_listen_relation(schema_name) -%}
  {%- set schema = relation.without_identifier() if schema_with_database else relation.without_identifier().include(database=false) -%}
  {{ return([
      "create schema if not exists " ~ schema,
      "create table if not exists " ~ relation ~ " ("
        ~ "run_id " ~ text ~ ", job_id " ~ text ~ ", environment_id " ~ text ~ ", run_status_code " ~ num
        ~ ", status " ~ text ~ ", error " ~ text ~ ", accepted_at " ~ ts ~ ", finished_at " ~ ts ~ ")",
  ]) }}
{%- endmacro %}


{#- PostgreSQL (and Redshift) name a schema without its database in `create schema`. -#}
{% macro postgres__revsync_listen_ddl(schema_name) -%}
  {{ return(dbt_revsync.default__revsync_listen_ddl(schema_name, schema_with_database=false)) }}
{%- endmacro %}


{#- Rows to record: each a mapping with the table's columns. A row whose run_id the table
    holds already updates its status, error and finished_at; a new one is inserted. (The
    one-row `from` is there for BigQuery, where a select without one takes no `where`.) -#}
{% macro revsync_listen_record_sql(schema_name, rows) -%}
  {{ return(adapter.dispatch('revsync_listen_record_sql', 'dbt_revsync')(schema_name, rows)) }}
{%- endmacro %}

{% macro default__revsync_listen_record_sql(schema_name, rows) -%}
  {%- set relation = dbt_revsync.revsync_listen_relation(schema_name) -%}
  {%- set ts = dbt.type_timestamp() -%}
  {%- set statements = [] -%}
  {%- for row in rows -%}
    {%- set q = {} -%}
    {%- for key in ['run_id', 'job_id', 'environment_id', 'status', 'error'] -%}
      {%- do q.update({key: dbt_revsync.revsync_literal(row.get(key))}) -%}
    {%- endfor -%}
    {%- set code = (row.get('run_status_code') | int) if row.get('run_status_code') is not none else 'null' -%}
    {%- set accepted = dbt_revsync.revsync_typed_literal(row.get('accepted_at'), ts) -%}
    {%- set finished = dbt_revsync.revsync_typed_literal(row.get('finished_at'), ts) -%}
    {%- do statements.append("insert into " ~ relation ~ " (run_id, job_id, environment_id, run_status_code, status, error, accepted_at, finished_at)"
        ~ " select " ~ q.run_id ~ ", " ~ q.job_id ~ ", " ~ q.environment_id ~ ", " ~ code ~ ", " ~ q.status ~ ", " ~ q.error
        ~ ", " ~ accepted ~ ", " ~ finished
        ~ " from (select 1 as revsync_one) revsync_row"
        ~ " where not exists (select 1 from " ~ relation ~ " where run_id = " ~ q.run_id ~ ")") -%}
    {%- if row.get('status') != 'accepted' -%}
      {%- do statements.append("update " ~ relation ~ " set status = " ~ q.status ~ ", error = " ~ q.error
          ~ ", finished_at = " ~ finished ~ " where run_id = " ~ q.run_id) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(statements) }}
{%- endmacro %}


{#- Every run the listener holds: run_id, status, accepted_at, oldest first. -#}
{% macro revsync_listen_runs_sql(schema_name) -%}
  {{ return(adapter.dispatch('revsync_listen_runs_sql', 'dbt_revsync')(schema_name)) }}
{%- endmacro %}

{% macro default__revsync_listen_runs_sql(schema_name) -%}
  select run_id, job_id, environment_id, run_status_code, status, error, accepted_at, finished_at
  from {{ dbt_revsync.revsync_listen_relation(schema_name) }}
  order by accepted_at, run_id
{%- endmacro %}
