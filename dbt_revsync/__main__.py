import sys

from dbt_revsync.cli import main

__all__: list[str] = []

sys.exit(main())
