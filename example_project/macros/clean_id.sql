{#
  An identifier as text: trimmed, an integral decimal written without its fraction
  (10042.0 -> '10042', -3.00 -> '-3'), and an empty string read as null. Works on text and
  numeric columns alike. Non-integral values (10042.5, 1.50) are kept as they are.
  No backslash and no regular-expression backreference: some warehouses (Spark, Databricks,
  BigQuery, Snowflake) read a backslash in '...' as an escape.
#}
{% macro clean_id(expr) -%}
  {{ return(adapter.dispatch('clean_id')(expr)) }}
{%- endmacro %}

{% macro default__clean_id(expr) -%}
  {%- set text = "trim(cast(" ~ expr ~ " as " ~ dbt.type_string() ~ "))" -%}
  nullif(case when {{ text }} like '%.%0' and regexp_replace({{ text }}, '^-?[0-9]+[.]0+$', '') = ''
    then rtrim(rtrim({{ text }}, '0'), '.') else {{ text }} end, '')
{%- endmacro %}

{#- Spark's rtrim takes no characters: the standard trim(trailing ... from ...). -#}
{% macro spark__clean_id(expr) -%}
  {%- set text = "trim(cast(" ~ expr ~ " as " ~ dbt.type_string() ~ "))" -%}
  nullif(case when {{ text }} like '%.%0' and regexp_replace({{ text }}, '^-?[0-9]+[.]0+$', '') = ''
    then trim(trailing '.' from trim(trailing '0' from {{ text }})) else {{ text }} end, '')
{%- endmacro %}
