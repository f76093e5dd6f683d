{#-
  A bound on the memory the warehouse's engine may take while the diff runs, where the
  engine runs in dbt-revsync's own process (DuckDB): the diff's joins, aggregates and sort
  spill to disk past it instead of growing with the model's rows. `now` reads the current
  limit (to put it back afterwards), `bound` sets one; `none` where the engine is elsewhere.
-#}
{% macro revsync_memory_limit_sql(limit) -%}
  {{ return(adapter.dispatch('revsync_memory_limit_sql', 'dbt_revsync')(limit)) }}
{%- endmacro %}

{% macro default__revsync_memory_limit_sql(limit) -%}
  {{ return(none) }}
{%- endmacro %}

{% macro duckdb__revsync_memory_limit_sql(limit) -%}
  {{ return({
      "now": "select current_setting('memory_limit') as memory_limit",
      "bound": "set memory_limit = " ~ dbt_revsync.revsync_literal(limit),
  }) }}
{%- endmacro %}
