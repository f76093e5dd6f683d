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
  aggregate: the comparison of the model with the state), whose md5 row hashes then take about
  half the time (`benchmarks/bench_ab.py`, 1M rows: a steady no-op push 4.30 -> 3.70 s). Its
  scan still holds buffers per thread, so two and not the session's count (one per core): a
  wide model or a view can run out of memory at 50MB on many threads.
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
