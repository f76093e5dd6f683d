"""HubSpot passes the destination conformance suite against its emulator."""

from __future__ import annotations

from tests.conformance.hubspot_suite import HubSpotConformance


class TestHubSpotConformance(HubSpotConformance):
    """The suite's settings for HubSpot are in hubspot_suite.py (the suite's own tests reuse them)."""
