"""The conformance suite can fail: a connector that breaks one rule fails the test for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from dbt_revsync.crms import emulator_class
from dbt_revsync.crms.hubspot.connector import HubSpotDestination
from dbt_revsync.destinations.base import Destination
from dbt_revsync.model import Ack, BatchResult, Change, SyncSpec
from dbt_revsync.sandbox import SandboxServer
from dbt_revsync.testing import TESTS, DestinationConformance
from tests.conformance.hubspot_suite import HubSpotConformance as HubSpotSuite


def _claims_creations(result: BatchResult) -> BatchResult:
    result.acked[:] = [replace(a, outcome="created") if a.outcome == "updated" else a for a in result.acked]
    return result


def _acks_what_it_left(result: BatchResult) -> BatchResult:
    result.acked.extend(Ack(key, None, "updated") for key in result.left_keys)
    return result


def _swallows_fatal(result: BatchResult) -> BatchResult:
    result.fatal = None
    return result


def _broken(alter: Callable[[BatchResult], BatchResult]) -> type[Destination]:
    class Broken(HubSpotDestination):
        def send(self, spec: SyncSpec, changes: Sequence[Change]) -> BatchResult:
            return alter(super().send(spec, changes))

    return Broken


def _run(alter: Callable[[BatchResult], BatchResult], test: str) -> None:
    cls = _broken(alter)

    class Against(HubSpotSuite):
        def destination(self, spec: SyncSpec) -> Destination:
            made = super().destination(spec)
            return cls(made.connection, made.http)

    suite = Against()
    with SandboxServer(emulators=[emulator_class("hubspot")()]) as server:
        suite.sandbox = server
        getattr(suite, test)()


@pytest.mark.parametrize(
    ("alter", "test"),
    [
        (_claims_creations, "test_mirror"),
        (_claims_creations, "test_upsert"),
        (_swallows_fatal, "test_401_is_fatal"),
        (_acks_what_it_left, "test_2xx_without_the_record_is_not_acknowledged"),
    ],
)
def test_a_connector_breaking_a_rule_fails_the_suite(alter: Callable[[BatchResult], BatchResult], test: str) -> None:
    with pytest.raises(AssertionError):
        _run(alter, test)


def test_the_unbroken_connector_passes_the_same_tests() -> None:
    for test in ("test_mirror", "test_upsert", "test_401_is_fatal", "test_2xx_without_the_record_is_not_acknowledged"):
        _run(lambda result: result, test)


def test_every_test_of_the_suite_is_listed() -> None:
    assert sorted(TESTS) == sorted(name for name in dir(DestinationConformance) if name.startswith("test_"))
