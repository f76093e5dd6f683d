{#-
  Engine settings that bound the memory the warehouse's engine may take during a sync, where
  the engine runs in dbt-revsync's own process (DuckDB): the diff's joins, aggregates and sort
  spill to disk past the bound instead of growing with the model's rows. Returns the settings
  as a mapping name -> value (none where the engine runs elsewhere); `revsync_setting_sql`
  reads one (to put it back afterwards) and sets one.

  DuckDB: `memory_limit` is the bound; one thread, because every thread holds its own
  operator state beside the budget (measured, 1M rows: 100MB with two threads peaks ~125 MiB
  above the process's start, 50MB with one thread ~68 MiB; 50MB with two threads fails on
  DuckDB's out-of-memory error). `preserve_insertion_order` stays: the changes table is
  paged by `__rs_seq`, a row_number in SQL, so no order rests on it, but it saved nothing.
  An in-memory database spills to `.tmp` by DuckDB's own default.

  `parallel`: two threads, for a statement with no operator state to speak of (an ungrouped
  aggregate: the comparison of the model with the state). Its scan still holds buffers per
  thread, so two and not the session's: measured, 1M rows, the comparison's md5 row hashes
  take 0.90 s on one thread and 0.46 s on two at the same 50MB; a scan of 16 text columns at
  50MB peaks 146 MiB on one thread, 169 on two, 225 on four, and runs out of memory on eight.
-#}
{% macro revsync_memory_settings(limit, parallel=false) -%}
  {{ return(adapter.dispatch('revsync_memory_settings', 'dbt_revsync')(limit, parallel)) }}
{%- endmacro %}

{% macro default__revsync_memory_settings(limit, parallel=false) -%}
  {{ return(none) }}
{%- endmacro %}

{% macro duckdb__revsync_memory_settings(limit, parallel=false) -%}
  {{ return({"memory_limit": limit, "threads": "2" if parallel else "1"}) }}
{%- endmacro %}

{#- `now` reads the setting `setting` (as column `value`); `set` gives it `value`. -#}
{% macro revsync_setting_sql(setting, value) -%}
  {{ return(adapter.dispatch('revsync_setting_sql', 'dbt_revsync')(setting, value)) }}
{%- endmacro %}

{% macro default__revsync_setting_sql(setting, value) -%}
  {{ return({
      "now": "select current_setting(" ~ dbt_revsync.revsync_literal(setting) ~ ") as value",
      "set": "set " ~ setting ~ " = " ~ dbt_revsync.revsync_literal(value),
  }) }}
{%- endmacro %}
