"""Freshsuccess vendor facts, read by both the connector and the emulator.

Source unless said otherwise: developer.freshsuccess.com/api/apidoc.html (notes "Freshsuccess").
"""

from __future__ import annotations

__all__ = [
    "DATE_FIELDS",
    "DELETE_DOCUMENTED",
    "DIMENSIONS",
    "KEYS",
    "MAX_BATCH",
    "NO_DELETE",
    "PAGE_SIZE",
    "REQUIRED",
    "TEXT_IDS",
]

# The bulk POST's objects and the key each record is matched on (accounts: documented;
# account contacts by user_id: assumed, hull-connectors freshsuccess [sec]).
KEYS: dict[str, str] = {"accounts": "account_id", "account_contacts": "user_id"}
REQUIRED: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "name", "join_date"),
    "account_contacts": ("account_id", "user_id"),
}
TEXT_IDS = ("account_id", "user_id")  # exact, case-sensitive text (notes: seed document)
# Dates travel as epoch milliseconds. ``inactive_time`` and ``latest_status_date`` are account
# dates of the API's account fields beside join_date and renewal_date.
DATE_FIELDS = ("join_date", "renewal_date", "created_date", "last_seen_date", "inactive_time", "latest_status_date")
# Custom values: lists of {key, value}; label = text, value = number, event = date (epoch ms).
DIMENSIONS = ("custom_label_dimensions", "custom_value_dimensions", "custom_event_dimensions")
MAX_BATCH = 1000  # "It is fine to have batch sizes in the 1000s"
PAGE_SIZE = 1000  # GET pages from 0, up to 1000 records a page
# No rate limit is published (the docs ask for batching only).

# Deleting: the docs say only "DELETE is used to remove or de-activate a record" and "Parameters
# for GET and DELETE are passed as URL encoded query strings"; no delete endpoint, parameter or
# answer is documented for accounts or account contacts. Nothing confirms a delete, so delete and
# mirror are configuration errors for Freshsuccess.
DELETE_DOCUMENTED = False
NO_DELETE = (
    "Freshsuccess documents no way to delete an account or contact by its key (its API docs say "
    "only that DELETE 'removes or de-activates' a record, with no path, parameter or answer), so a "
    "delete could never be confirmed"
)
