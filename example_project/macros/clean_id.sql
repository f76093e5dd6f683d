{#
  An identifier as text: trimmed, an integral float written without its fraction
  (10042.0 -> '10042'), and an empty string read as null. Works on text and numeric
  columns alike. Non-integral values (10042.5) are kept as they are.
#}
{% macro clean_id(expr) -%}
    nullif(regexp_replace(trim(cast({{ expr }} as varchar)), '^(-?[0-9]+)\.0+$', '\1'), '')
{%- endmacro %}
