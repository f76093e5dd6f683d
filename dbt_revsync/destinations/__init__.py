"""The destinations a connection ``type`` names: the CRMs registered in :mod:`dbt_revsync.crms`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from dbt_revsync.crms import destination_class as _destination_class
from dbt_revsync.crms import registry

if TYPE_CHECKING:
    from dbt_revsync.destinations.base import Destination


def destination_types() -> tuple[str, ...]:
    return tuple(registry())


def destination_class(type_name: str) -> type[Destination]:
    return _destination_class(type_name)


class _Catalog(Mapping[str, "type[Destination]"]):
    """Connection type -> destination class, each class imported on first use."""

    def __getitem__(self, type_name: str) -> type[Destination]:
        if type_name not in registry():
            raise KeyError(type_name)
        return _destination_class(type_name)

    def __iter__(self) -> Iterator[str]:
        return iter(registry())

    def __len__(self) -> int:
        return len(registry())


def catalog() -> Mapping[str, type[Destination]]:
    """Every registered destination class by connection type: what configuration parsing is handed."""
    return _Catalog()


__all__ = ["catalog", "destination_class", "destination_types"]
