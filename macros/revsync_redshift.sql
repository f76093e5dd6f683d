{#-
  Redshift: dbt-redshift dispatches to `postgres__` macros where it has no `redshift__` one,
  and Redshift lacks what those use (advisory locks, `do` blocks, indexes, unlogged tables,
  text arrays). Its versions take the defaults: a lease row for the lock, no unique index,
  commits rendered batch by batch.
-#}
{% macro redshift__revsync_lock_kind() -%}{{ return("lease") }}{%- endmacro %}

{% macro redshift__revsync_advisory_lock_sql(sync_id) -%}{{ return(none) }}{%- endmacro %}

{% macro redshift__revsync_state_unique_sql(schema_relation) -%}{{ return(none) }}{%- endmacro %}

{% macro redshift__revsync_bound_commit_sql(schema_relation) -%}{{ return(none) }}{%- endmacro %}

{% macro redshift__revsync_state_ddl(schema_relation) -%}
  {{ return(dbt_revsync.default__revsync_state_ddl(schema_relation)) }}
{%- endmacro %}

{% macro redshift__revsync_create_changes_table_sql(relation, sql) -%}
  {{ return(dbt_revsync.default__revsync_create_changes_table_sql(relation, sql)) }}
{%- endmacro %}

{% macro redshift__revsync_row_hash_v1(columns, fingerprint) -%}
  {{ return(dbt_revsync.default__revsync_row_hash_v1(columns, fingerprint)) }}
{%- endmacro %}

{#- Redshift dispatches to postgres__ macros, but has no `hashtextextended`: no agreement
    check there, the diff always runs. -#}
{% macro redshift__revsync_hash64(text) -%}
  {{ return(none) }}
{%- endmacro %}
