"""Testing helpers for CRM packages: the destination conformance suite.

A CRM package (one under ``dbt_revsync.crms`` or a separate distribution such as
``dbt-revsync-zoho``) proves its connector against its own emulator by subclassing
:class:`DestinationConformance` in a pytest module::

    from dbt_revsync.testing import DestinationConformance

    class TestZoho(DestinationConformance):
        crm = "zoho"
        object = "Accounts"
        fields = {"Account_Name": "name", "External_Id": "id"}
        upsert_key = "External_Id"
        rows = [{"id": "1", "name": "Acme"}, {"id": "2", "name": "Nordwind"}, {"id": "3", "name": "Sample"}]
        changed = {"name": "Acme Inc"}
        bad_row = {"id": "4", "name": ""}  # a row the CRM refuses

The suite needs pytest (it is a test helper, not a runtime module). See
``docs/writing-a-crm.md`` for the whole contract.
"""

from dbt_revsync.testing.conformance import TESTS, DestinationConformance, Pushed

__all__ = ["TESTS", "DestinationConformance", "Pushed"]
