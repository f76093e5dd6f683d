"""The request schemas the emulator checks against are the published spec's own."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from dbt_revsync.crms.pipedrive.v2_schemas import SCHEMAS

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_schemas_match_pipedrives_published_spec() -> None:
    loader = importlib.util.spec_from_file_location("extract", ROOT / "scripts" / "extract_pipedrive_schemas.py")
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    assert SCHEMAS == module.extract(), "run scripts/extract_pipedrive_schemas.py: v2_schemas.py is out of date"
