"""The destinations a connection ``type`` names: the CRMs registered in :mod:`dbt_revsync.crms`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbt_revsync.crms import destination_class as _destination_class
from dbt_revsync.crms import registry

if TYPE_CHECKING:
    from dbt_revsync.destinations.base import Destination


def destination_types() -> tuple[str, ...]:
    return tuple(registry())


def destination_class(type_name: str) -> type[Destination]:
    return _destination_class(type_name)


__all__ = ["destination_class", "destination_types"]
