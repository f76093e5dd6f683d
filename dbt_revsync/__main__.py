import sys

from dbt_revsync.cli import main

sys.exit(main())
