"""Salesforce facts that both the connector and the sandbox emulator read, each with its source.

Sources: the REST API Developer Guide (developer.salesforce.com/docs/atlas.en-us.api_rest.meta),
the Bulk API 2.0 Developer Guide (atlas.en-us.api_asynch.meta) and the notes in
crm-api-notes.md, section "Checked against the vendors".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbt_revsync.delivery import Reply

__all__ = [
    "API_VERSION",
    "BULK_DONE_STATES",
    "BULK_RESULT_SETS",
    "BULK_RESULTS_MEDIA_TYPE",
    "COLLECTION_SIZE",
    "error_of",
    "LIMIT_INFO_HEADER",
    "QUERY_PAGE_SIZE",
    "RECORD_ID_FIELD",
    "TOKEN_PATH",
    "URI_AND_HEADERS_MAX",
    "URI_BUDGET",
]

# The API version the connector asks for by default. 67.0 is current (Summer '26); 62.0 is
# still supported (crm-api-notes.md, "Checked against the vendors").
API_VERSION = "62.0"

# sObject Collections take up to 200 records a request (create/update/upsert/delete);
# api_rest resources_composite_sobjects_collections_create.htm: "The list can contain up to 200 objects."
COLLECTION_SIZE = 200

# A SOQL query answers at most 2,000 records a page (default batch size), the rest behind
# ``nextRecordsUrl``; api_rest dome_query.htm / headers_queryoptions.htm ("default 2,000").
QUERY_PAGE_SIZE = 2000

# The request line's URI plus the headers must stay within 16,384 bytes, or Salesforce answers
# 414 (help article 000386264; crm-api-notes.md "Checked against the vendors").
URI_AND_HEADERS_MAX = 16_384
# The share of that the connector lets a URI take: the rest is left to the headers
# (a bearer token is ~112 bytes; User-Agent, Accept, ... well under 2 KB).
URI_BUDGET = URI_AND_HEADERS_MAX - 2_048

# An upsert by external id names an External ID field, never ``Id``; sObject Collections upsert:
# "Only external ids are supported. Don't use record ids." (resources_composite_sobjects_collections_upsert.htm).
RECORD_ID_FIELD = "Id"

# Bulk API 2.0 ingest: the states a job ends in, and the result sets of a finished job. A job
# that ends Failed or Aborted may have committed rows: "Unprocessed rows are not the same as
# failed rows" (get_job_unprocessed_results.htm). Results are CSV ("Formats: CSV",
# get_job_successful_results.htm); simple-salesforce asks for them with ``Accept: text/csv``.
BULK_DONE_STATES = ("JobComplete", "Failed", "Aborted")
BULK_RESULT_SETS = ("successfulResults", "failedResults", "unprocessedrecords")
BULK_RESULTS_MEDIA_TYPE = "text/csv"

# The daily API allocation is reported on every answer as ``Sforce-Limit-Info: api-usage=<used>/<max>``
# (api_rest headers_api_usage.htm).
LIMIT_INFO_HEADER = "Sforce-Limit-Info"

# The OAuth token endpoint, relative to the org's My Domain (api_rest intro_oauth_and_connected_apps.htm;
# remoteaccess_oauth_client_credentials_flow.htm: the client id and secret go in the body, or in an
# ``Authorization: Basic`` header as RFC 6749 section 2.3.1 allows).
TOKEN_PATH = "/services/oauth2/token"


def error_of(reply: Reply) -> tuple[str, str]:
    """A top-level error: ``[{"message", "errorCode"}]``."""
    body = reply.json()
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        return str(first.get("errorCode") or reply.status), str(first.get("message") or reply.text[:300])
    return str(reply.status), reply.text[:300] or f"HTTP {reply.status}"
