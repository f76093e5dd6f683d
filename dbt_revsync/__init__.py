"""dbt-revsync: reverse ETL inside a dbt project."""

__version__ = "0.1.0"
