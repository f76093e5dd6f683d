"""HubSpot: the connector, its sandbox emulator and the vendor facts both read."""

from dbt_revsync.crms import Crm

__all__ = ["CRM"]

CRM = Crm(
    name="hubspot",
    destination="dbt_revsync.crms.hubspot.connector:HubSpotDestination",
    emulator="dbt_revsync.crms.hubspot.emulator:HubSpotEmulator",
    sandbox_prefix="hubspot",
    docs="destinations/hubspot.md",
)
