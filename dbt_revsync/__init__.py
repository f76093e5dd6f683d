"""dbt-revsync: reverse ETL inside a dbt project."""

__all__ = ["__version__"]

__version__ = "0.5.0"  # the one version number: pyproject.toml reads it from here
