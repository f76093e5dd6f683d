"""Salesforce emulator, served under ``/salesforce``.

``<sandbox url>/salesforce`` stands in for ``https://<MyDomain>.my.salesforce.com``, so a
connection's ``base_url`` is ``<sandbox url>/salesforce/services/data/v62.0`` and the token
URL ``<sandbox url>/salesforce/services/oauth2/token``.

Endpoints: the OAuth token endpoint (``refresh_token`` and ``client_credentials`` grants,
the client in the form or in ``Authorization: Basic``; the answer's ``instance_url`` is this
sandbox's own address); ``GET /sobjects`` and ``/sobjects/<Object>/describe``;
``POST /sobjects/<Object>``, ``GET``/``PATCH``/``DELETE /sobjects/<Object>/<Id>``,
``GET``/``PATCH /sobjects/<Object>/<ExtIdField>/<value>`` (300 on several matches); sObject
Collections (create, update, upsert by external id, delete; 200 records a request, ordered
SaveResults, ``allOrNone`` rolls back); ``GET /query`` (and ``/queryAll``) for ``SELECT
<fields> FROM <Object> [WHERE <field> IN (..) | = '..']`` in pages of 2,000 behind
``nextRecordsUrl``; ``GET /limits``; Bulk API 2.0 ingest jobs (create, upload CSV, close, poll,
abort; successful, failed and unprocessed results, CSV only, for a request that asks for
``text/csv``). ``bulk_fail_after`` makes the next job end ``Failed`` after committing that many
rows. Every API answer carries ``Sforce-Limit-Info``; past the daily allocation every request
answers 403 ``REQUEST_LIMIT_EXCEEDED``; a URI plus headers over 16,384 bytes answers 414.

Records live in the store under their object name with an 18-character ``Id``. An undeclared
custom field (``__c``) is taken as an External ID that is not unique, so several records may
share a value, which makes upsert by it answer "more than one record"; a field declared with
``declare_field`` is an External ID only when declared unique, and then refuses duplicates.
Where Salesforce's docs are silent the choice made is written as "Assumed"; the rules and
their sources are listed in docs/destinations/salesforce.md.
"""

from __future__ import annotations

import base64
import binascii
import copy
import csv
import io
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from dbt_revsync.crms.salesforce import facts
from dbt_revsync.sandbox import (
    DeclaredField,
    Emulator,
    Limits,
    Record,
    RequestRejected,
    SandboxRequest,
    SandboxResponse,
    SchemaRefused,
    json_response,
    route,
)

__all__ = [
    "COLLECTION_LIMIT",
    "DAILY_ALLOCATION",
    "DECLARABLE_TYPES",
    "DECLARED_CUSTOM_FIELDS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_TOKEN",
    "EMAIL_FIELDS",
    "failure",
    "FIELD_TYPES",
    "ID_LOOKUP",
    "KEY_PREFIXES",
    "REFERENCE_TO",
    "RELATIONSHIPS",
    "REQUIRED",
    "ROLLED_BACK",
    "SalesforceEmulator",
    "SaveError",
    "STANDARD_FIELDS",
]

DEFAULT_TOKEN = "sandbox-salesforce-token"
DEFAULT_REFRESH_TOKEN = "sandbox-salesforce-refresh-token"
DEFAULT_CLIENT_ID = "sandbox-salesforce-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-salesforce-client-secret"
DAILY_ALLOCATION = 100_000
COLLECTION_LIMIT = facts.COLLECTION_SIZE
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}
# Field types a user may declare (the describe ``type`` values of the REST API's DescribeSObjectResult).
DECLARABLE_TYPES = (
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "boolean",
    "int",
    "double",
    "currency",
    "percent",
    "date",
    "datetime",
)

# Standard objects, and one custom object to try custom sObjects with.
KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
    "Case": "500",
    "Invoice__c": "a00",
}
REQUIRED = {
    "Account": ("Name",),
    "Contact": ("LastName",),
    "Lead": ("LastName", "Company"),
    "Opportunity": ("Name", "StageName", "CloseDate"),
    "Case": (),
    "Invoice__c": ("Name",),
}
STANDARD_FIELDS = {
    "Account": (
        "Name",
        "AccountNumber",
        "Website",
        "Phone",
        "Industry",
        "Type",
        "Description",
        "NumberOfEmployees",
        "AnnualRevenue",
        "BillingStreet",
        "BillingCity",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
        "ShippingCity",
        "ShippingCountry",
        "OwnerId",
        "ParentId",
    ),
    "Contact": (
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "MobilePhone",
        "Title",
        "Department",
        "AccountId",
        "MailingCity",
        "MailingCountry",
        "Description",
        "OwnerId",
        "Birthdate",
    ),
    "Lead": ("FirstName", "LastName", "Company", "Email", "Phone", "Status", "Title", "OwnerId"),
    "Opportunity": ("Name", "StageName", "CloseDate", "Amount", "AccountId", "OwnerId", "Description"),
    "Case": ("Subject", "Status", "Priority", "Origin", "AccountId", "ContactId", "Description", "OwnerId"),
    "Invoice__c": ("Name", "OwnerId"),
}
EMAIL_FIELDS = ("Email",)
# A lookup set by the parent's external id: (object, relationship name) -> (lookup field, parent object).
RELATIONSHIPS = {
    ("Contact", "Account"): ("AccountId", "Account"),
    ("Opportunity", "Account"): ("AccountId", "Account"),
    ("Case", "Account"): ("AccountId", "Account"),
    ("Case", "Contact"): ("ContactId", "Contact"),
}
_READ_ONLY = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted")
# Custom fields every object declares in describe. Assumed: writes accept any custom field
# (__c), and describe also lists the custom fields records already hold.
DECLARED_CUSTOM_FIELDS = ("Ext_Id__c",)
# describe ``type`` of the standard fields that are not text (the rest are ``string``).
FIELD_TYPES = {
    "Id": "id",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
    "IsDeleted": "boolean",
    "Email": "email",
    "Phone": "phone",
    "MobilePhone": "phone",
    "Website": "url",
    "Description": "textarea",
    "NumberOfEmployees": "int",
    "AnnualRevenue": "currency",
    "Amount": "currency",
    "CloseDate": "date",
    "Birthdate": "date",
    "StageName": "picklist",
    "Industry": "picklist",
    "Type": "picklist",
    "Status": "picklist",
    "Priority": "picklist",
    "Origin": "picklist",
}
# Standard fields a record can be found by (describe ``idLookup``), besides Id.
ID_LOOKUP = {
    "Account": ("Name",),
    "Contact": ("Email",),
    "Lead": ("Email",),
    "Opportunity": ("Name",),
    "Invoice__c": ("Name",),
}
REFERENCE_TO = {"AccountId": "Account", "ContactId": "Contact", "ParentId": "Account", "OwnerId": "User"}
_V = r"/services/data/v(?P<version>\d+\.\d)"
_OBJECT = r"(?P<sobject>[A-Za-z][A-Za-z0-9_]*)"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w\s,.]+?)\s+FROM\s+(?P<sobject>\w+)"
    r"(?:\s+WHERE\s+(?P<field>\w+)\s*(?:IN\s*\((?P<values>.*)\)|=\s*(?P<value>'(?:[^'\\]|\\.)*'))\s*)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")


class SaveError(Exception):
    """One record's failure, as a SaveResult error ``{statusCode, message, fields}``."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, list(fields)

    def as_dict(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def failure(status: int, code: str, message: str) -> RequestRejected:
    """A top-level error: ``[{"message", "errorCode"}]``."""
    return RequestRejected(status, message, json_response(status, [{"message": message, "errorCode": code}]))


class SalesforceEmulator(Emulator):
    """Salesforce sObjects through REST, sObject Collections and Bulk API 2.0."""

    prefix = "salesforce"
    resources = tuple(KEY_PREFIXES)
    default_api_keys = (DEFAULT_TOKEN,)
    vendor_limits = Limits()  # Salesforce meters a daily allocation (Sforce-Limit-Info), not a rate
    auth_hint = "Authorization: Bearer <token>; tokens from /services/oauth2/token"

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        limits: Limits | None = None,
        daily_allocation: int = DAILY_ALLOCATION,
        **kwargs: Any,
    ) -> None:
        super().__init__(api_keys=api_keys, limits=limits, **kwargs)
        self.daily_allocation = daily_allocation
        self.api_usage = 0
        self.refresh_tokens = {DEFAULT_REFRESH_TOKEN}
        self.clients = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.issued: set[str] = set()
        self.revoked: set[str] = set()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.custom_fields: dict[tuple[str, str], DeclaredField] = {}
        self.cursors: dict[str, list[Record]] = {}  # query locator -> the records of the whole answer
        # Fault knob: the next Bulk API 2.0 job commits this many rows, then ends Failed and
        # reports the rest under unprocessedrecords (as a job stopped by a timeout or a limit).
        self.bulk_fail_after: int | None = None
        self._usage_lock = threading.Lock()

    # -- control (tests, the admin API) ---------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self.api_usage, self.jobs, self.deleted, self.cursors = 0, {}, set(), {}
        self.issued, self.revoked = set(), set()
        self.bulk_fail_after = None

    def add_record(self, sobject: str, fields: dict[str, Any]) -> Record:
        """Store a record as a create would (its Id given), for tests that need many quickly."""
        with self.store.lock:
            return _public(sobject, self._create(sobject, fields))

    def declare_field(self, declared: DeclaredField) -> None:
        """A custom field (``Name__c``) on a known object, of a describe type; ``unique`` makes it
        an External ID that is unique and a lookup key (``externalId``, ``unique``, ``idLookup``),
        as an admin ticks "Unique" and "External ID" in Setup."""
        if declared.object not in KEY_PREFIXES:
            raise SchemaRefused(f"salesforce has no object {declared.object!r} here; known: {', '.join(KEY_PREFIXES)}")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c", declared.name):
            raise SchemaRefused(
                f"{declared.name!r} is not a custom field API name (letters, digits, single underscores, ending in __c)"
            )
        if declared.type not in DECLARABLE_TYPES:
            raise SchemaRefused(f"field type {declared.type!r} is not one of {', '.join(DECLARABLE_TYPES)}")
        if declared.unique and declared.type not in ("string", "email", "int", "double"):
            raise SchemaRefused(f"{declared.name}: only text, email and number fields can be External IDs")
        self.custom_fields[(declared.object, declared.name)] = declared

    def expire_tokens(self) -> None:
        """Every access token answers 401 from now on (as when a session times out)."""
        self.revoked |= set(self.api_keys) | self.issued

    # -- auth, limits, errors --------------------------------------------------------------
    def authenticate(self, request: SandboxRequest) -> bool:
        if request.path.rstrip("/") == "/services/oauth2/token":
            return True
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        return bool(token) and token not in self.revoked and (token in self.api_keys or token in self.issued)

    def unauthorized_response(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])

    def error_response(self, status: int, message: str) -> SandboxResponse:
        code = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 429: "REQUEST_LIMIT_EXCEEDED"}.get(
            status, "UNKNOWN_EXCEPTION"
        )
        return json_response(status, [{"message": message, "errorCode": code}])

    def unmatched_response(self, request: SandboxRequest) -> SandboxResponse:
        return self.error_response(404, "The requested resource does not exist")

    def _respond(self, request: SandboxRequest, found: Any) -> SandboxResponse:
        """Counts each authenticated API request against the daily allocation."""
        if _request_size(self.prefix, request) > facts.URI_AND_HEADERS_MAX:
            return json_response(414, [{"message": "URI Too Long", "errorCode": "URI_TOO_LONG"}])
        if request.path.rstrip("/") == "/services/oauth2/token" or not self.authenticate(request):
            return super()._respond(request, found)
        with self._usage_lock:
            over = self.api_usage >= self.daily_allocation
            if not over:
                self.api_usage += 1
            usage = f"api-usage={self.api_usage}/{self.daily_allocation}"
        if over:
            response = json_response(
                403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
            )
        else:
            response = super()._respond(request, found)
        response.headers["Sforce-Limit-Info"] = usage
        return response

    # -- OAuth --------------------------------------------------------------------------------
    @route("POST", r"/services/oauth2/token", "oauth2.token")
    def token(self, request: SandboxRequest) -> SandboxResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        basic = _basic_client(request.headers.get("Authorization", ""))
        if basic is not None:  # client_secret_basic (RFC 6749 2.3.1): the client in the header
            if "client_id" in form and form["client_id"] != basic[0] or "client_secret" in form:
                return json_response(400, {"error": "invalid_client", "error_description": "client identified twice"})
            form.update(client_id=basic[0], client_secret=basic[1])
        grant = form.get("grant_type")
        client_ok = form.get("client_id") in self.clients
        if grant == "refresh_token":
            ok = (
                client_ok
                and form.get("refresh_token") in self.refresh_tokens
                and ("client_secret" not in form or self.clients[form["client_id"]] == form["client_secret"])
            )
        elif grant == "client_credentials":
            ok = client_ok and self.clients.get(form.get("client_id", "")) == form.get("client_secret")
        else:
            return json_response(
                400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            )
        if not ok:
            return json_response(400, {"error": "invalid_grant", "error_description": "authentication failure"})
        token = f"00D{secrets.token_hex(8)}!{secrets.token_urlsafe(24)}"
        self.issued.add(token)
        return json_response(
            200,
            {
                "access_token": token,
                "instance_url": _instance_url(request, self.prefix),
                "token_type": "Bearer",
                "issued_at": str(int(datetime.now(timezone.utc).timestamp() * 1000)),
                "id": "https://login.salesforce.com/id/00D/005",
                "signature": secrets.token_urlsafe(16),
            },
        )

    @route("GET", _V + r"/limits", "limits")
    def limits(self, request: SandboxRequest, version: str) -> SandboxResponse:
        return json_response(
            200,
            {"DailyApiRequests": {"Max": self.daily_allocation, "Remaining": self.daily_allocation - self.api_usage}},
        )

    @route("GET", _V + r"/sobjects", "describe_global")
    def describe_global(self, request: SandboxRequest, version: str) -> SandboxResponse:
        """``GET /sobjects``: the org's objects (DescribeGlobalResult)."""
        sobjects = [
            {
                "name": name,
                "label": name.removesuffix("__c").replace("_", " "),
                "keyPrefix": prefix,
                "custom": name.endswith("__c"),
                "createable": True,
                "updateable": True,
                "deletable": True,
                "queryable": True,
                "searchable": True,
                "retrieveable": True,
                "layoutable": True,
                "urls": {
                    "sobject": f"/services/data/v{version}/sobjects/{name}",
                    "describe": f"/services/data/v{version}/sobjects/{name}/describe",
                },
            }
            for name, prefix in KEY_PREFIXES.items()
        ]
        return json_response(200, {"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT, "sobjects": sobjects})

    @route("GET", _V + r"/sobjects/" + _OBJECT + r"/describe", "{sobject}.describe")
    def describe_object(self, request: SandboxRequest, version: str, sobject: str) -> SandboxResponse:
        """A DescribeSObjectResult: the object's flags and ``fields``, each with the documented
        attributes (name, label, type, length, externalId, idLookup, unique, createable,
        updateable, nillable, custom, relationshipName, referenceTo, ...)."""
        self._known(sobject)
        lookups = {lookup: name for (obj, name), (lookup, _) in RELATIONSHIPS.items() if obj == sobject}
        declared = {name: f for (obj, name), f in self.custom_fields.items() if obj == sobject}
        custom = (
            set(DECLARED_CUSTOM_FIELDS)
            | set(declared)
            | {k for r in self.store.all(sobject) for k in r if k.endswith("__c")}
        )
        names = [*_READ_ONLY, *STANDARD_FIELDS[sobject], *sorted(custom)]
        fields = [self._describe_field(sobject, n, lookups.get(n), declared.get(n)) for n in names]
        return json_response(
            200,
            {
                "name": sobject,
                "label": sobject.removesuffix("__c").replace("_", " "),
                "custom": sobject.endswith("__c"),
                "keyPrefix": KEY_PREFIXES[sobject],
                "createable": True,
                "updateable": True,
                "deletable": True,
                "queryable": True,
                "searchable": True,
                "retrieveable": True,
                "undeletable": True,
                "layoutable": True,
                "childRelationships": [],
                "recordTypeInfos": [],
                "fields": fields,
                "urls": {
                    "sobject": f"/services/data/v{version}/sobjects/{sobject}",
                    "describe": f"/services/data/v{version}/sobjects/{sobject}/describe",
                    "rowTemplate": f"/services/data/v{version}/sobjects/{sobject}/{{ID}}",
                },
            },
        )

    def _describe_field(
        self, sobject: str, name: str, relationship: str | None, declared: DeclaredField | None
    ) -> dict[str, Any]:
        kind = declared.type if declared else FIELD_TYPES.get(name, "string")
        if name in REFERENCE_TO or relationship:
            kind = "reference"
        writable = name not in _READ_ONLY
        unique = bool(declared and declared.unique)
        external = unique or (
            name.endswith("__c") and declared is None
        )  # Assumed: an undeclared __c field is an External ID
        lengths = {
            "id": 18,
            "reference": 18,
            "string": 255,
            "email": 80,
            "phone": 40,
            "url": 255,
            "textarea": 32000,
            "picklist": 255,
        }
        return {
            "name": name,
            "label": name.removesuffix("__c").replace("_", " "),
            "type": kind,
            "soapType": "tns:ID" if kind in ("id", "reference") else f"xsd:{_SOAP_TYPES.get(kind, 'string')}",
            "length": lengths.get(kind, 0),
            "precision": 18 if kind in ("currency", "double", "percent") else 0,
            "scale": 2 if kind in ("currency", "double", "percent") else 0,
            "digits": 9 if kind == "int" else 0,
            "custom": name.endswith("__c"),
            "externalId": external,
            "unique": unique,
            "idLookup": name == "Id" or unique or external or name in ID_LOOKUP.get(sobject, ()),
            "createable": writable,
            "updateable": writable,
            "nillable": writable and name not in REQUIRED[sobject] and kind != "boolean",
            "defaultedOnCreate": not writable or kind == "boolean",
            "filterable": True,
            "sortable": kind != "textarea",
            "groupable": kind not in ("textarea", "double", "currency", "percent"),
            "calculated": False,
            "autoNumber": False,
            "caseSensitive": False,
            "htmlFormatted": False,
            "nameField": name == "Name",
            "restrictedPicklist": False,
            "picklistValues": [],
            "relationshipName": relationship,
            "referenceTo": _reference_to(sobject, name, relationship) if kind == "reference" else [],
            "defaultValue": False if kind == "boolean" else None,
            "inlineHelpText": None,
        }

    # -- single records ----------------------------------------------------------------------
    @route("POST", _V + r"/sobjects/" + _OBJECT, "{sobject}.create")
    def create_one(self, request: SandboxRequest, version: str, sobject: str) -> SandboxResponse:
        self._known(sobject)
        try:
            saved = self._create(sobject, self._fields(sobject, self.json_object(request)))
        except SaveError as error:
            return json_response(400, [{"message": error.message, "errorCode": error.code, "fields": error.fields}])
        return json_response(201, {"id": saved["Id"], "success": True, "errors": []})

    @route("GET", _V + r"/sobjects/" + _OBJECT + r"/(?P<record_id>\w{15,18})", "{sobject}.view")
    def view(self, request: SandboxRequest, version: str, sobject: str, record_id: str) -> SandboxResponse:
        self._known(sobject)
        found = self._get(sobject, record_id)
        if found is None:
            raise failure(404, "NOT_FOUND", "The requested resource does not exist")
        return json_response(200, _public(sobject, found))

    @route("PATCH", _V + r"/sobjects/" + _OBJECT + r"/(?P<record_id>\w{15,18})", "{sobject}.update")
    def update_one(self, request: SandboxRequest, version: str, sobject: str, record_id: str) -> SandboxResponse:
        """``PATCH /sobjects/<Object>/<Id>``: 204 with no body; a bad record answers 400 with errors."""
        self._known(sobject)
        fields = self._fields(sobject, self.json_object(request))
        if "Id" in self.json_object(request):
            raise failure(400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Id")
        try:
            self._update_by_id(sobject, record_id, fields)
        except SaveError as error:
            status = 404 if error.code in ("INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED", "MALFORMED_ID") else 400
            if status == 404:
                raise failure(404, "NOT_FOUND", "The requested resource does not exist") from None
            return json_response(400, [{"message": error.message, "errorCode": error.code, "fields": error.fields}])
        return SandboxResponse(status=204)

    @route("DELETE", _V + r"/sobjects/" + _OBJECT + r"/(?P<record_id>\w{15,18})", "{sobject}.delete")
    def delete_one(self, request: SandboxRequest, version: str, sobject: str, record_id: str) -> SandboxResponse:
        """``DELETE /sobjects/<Object>/<Id>``: 204; a deleted record answers 404 ENTITY_IS_DELETED."""
        self._known(sobject)
        if self._get(sobject, record_id) is None:
            if record_id in self.deleted:
                raise failure(404, "ENTITY_IS_DELETED", "entity is deleted")
            raise failure(404, "NOT_FOUND", "The requested resource does not exist")
        self._delete(record_id)
        return SandboxResponse(status=204)

    @route("GET", _V + r"/sobjects/" + _OBJECT + r"/(?P<field>\w+)/(?P<value>[^/]+)", "{sobject}.view_by_external_id")
    def view_by_external_id(
        self, request: SandboxRequest, version: str, sobject: str, field: str, value: str
    ) -> SandboxResponse:
        """``GET /sobjects/<Object>/<ExternalIdField>/<value>``: the record, 404 when none, 300
        with the records' URLs when several carry the value."""
        self._known(sobject)
        self._external_id(sobject, field, by_id=True)
        matches = self._matching(sobject, field, value)
        if len(matches) > 1:
            return json_response(300, [f"/services/data/v{version}/sobjects/{sobject}/{m['Id']}" for m in matches])
        if not matches:
            raise failure(404, "NOT_FOUND", "The requested resource does not exist")
        return json_response(200, _public(sobject, matches[0]))

    @route("PATCH", _V + r"/sobjects/" + _OBJECT + r"/(?P<field>\w+)/(?P<value>[^/]+)", "{sobject}.upsert")
    def upsert_one(
        self, request: SandboxRequest, version: str, sobject: str, field: str, value: str
    ) -> SandboxResponse:
        self._known(sobject)
        self._external_id(sobject, field, by_id=True)
        fields = self._fields(sobject, self.json_object(request))
        matches = self._matching(sobject, field, value)
        if len(matches) > 1:
            urls = [f"/services/data/v{version}/sobjects/{sobject}/{m['Id']}" for m in matches]
            return json_response(300, urls)
        try:
            saved, created = self._upsert(sobject, field, value, fields, matches)
        except SaveError as error:
            return json_response(400, [{"message": error.message, "errorCode": error.code, "fields": error.fields}])
        return json_response(
            201 if created else 200, {"id": saved["Id"], "success": True, "errors": [], "created": created}
        )

    # -- sObject Collections -------------------------------------------------------------
    @route("POST", _V + r"/composite/sobjects", "collections.create")
    def collection_create(self, request: SandboxRequest, version: str) -> SandboxResponse:
        records, all_or_none = self._collection(request)

        def run() -> list[dict[str, Any]]:
            results = []
            for raw in records:
                sobject = _type_of(raw)
                self._known(sobject)
                results.append(
                    self._save(
                        lambda sobject=sobject, raw=raw: self._create(sobject, self._fields(sobject, raw)), created=None
                    )
                )
            return results

        return self._all_or_none(all_or_none, run)

    @route("PATCH", _V + r"/composite/sobjects", "collections.update")
    def collection_update(self, request: SandboxRequest, version: str) -> SandboxResponse:
        records, all_or_none = self._collection(request)

        def run() -> list[dict[str, Any]]:
            results = []
            for raw in records:
                sobject = _type_of(raw)
                self._known(sobject)
                record_id = str(raw.get("id") or raw.get("Id") or "")
                fields = {k: v for k, v in raw.items() if k not in ("id", "Id")}
                results.append(
                    self._save(
                        lambda sobject=sobject, record_id=record_id, fields=fields: self._update_by_id(
                            sobject, record_id, self._fields(sobject, fields)
                        ),
                        created=None,
                    )
                )
            return results

        return self._all_or_none(all_or_none, run)

    @route("PATCH", _V + r"/composite/sobjects/" + _OBJECT + r"/(?P<field>\w+)", "collections.upsert")
    def collection_upsert(self, request: SandboxRequest, version: str, sobject: str, field: str) -> SandboxResponse:
        self._known(sobject)
        if field.upper() == facts.RECORD_ID_FIELD.upper():
            # "Only external ids are supported. Don't use record ids." (sObject Collections upsert)
            raise failure(
                400,
                "INVALID_FIELD",
                f"Field {field} is not an External ID field for {sobject}: "
                "upsert through sObject Collections takes an External ID field, never the record Id",
            )
        self._external_id(sobject, field)
        records, all_or_none = self._collection(request)

        def run() -> list[dict[str, Any]]:
            index = self._index(sobject, field, (raw.get(field) for raw in records))
            results = []
            for raw in records:
                if _type_of(raw) != sobject:
                    raise failure(400, "INVALID_TYPE", f"Record type {_type_of(raw)} does not match {sobject}")
                results.append(self._upsert_result(sobject, field, raw, index))
            return results

        return self._all_or_none(all_or_none, run)

    def _all_or_none(self, all_or_none: bool, run: Callable[[], list[dict[str, Any]]]) -> SandboxResponse:
        """Runs a collection's records; with ``allOrNone: true`` one failure rolls every record
        back: the failed records keep their errors, the others answer
        ``ALL_OR_NONE_OPERATION_ROLLED_BACK`` with ``success: false`` and no id (200, as the
        AllOrNoneHeader and sObject Collections docs show). Ids handed out are not reused."""
        saved = self._checkpoint()
        try:
            results = run()
        except RequestRejected:
            self._restore(saved)
            raise
        if all_or_none and not all(r.get("success") for r in results):
            self._restore(saved)
            results = [
                r if not r.get("success") else {"id": None, "success": False, "errors": [dict(ROLLED_BACK)]}
                for r in results
            ]
        return json_response(200, results)

    def _checkpoint(self) -> tuple[Any, set[str]]:
        # The store has no transactions: a copy of its tables (under its lock, held by the handler).
        return copy.deepcopy(self.store._records), set(self.deleted)

    def _restore(self, saved: tuple[Any, set[str]]) -> None:
        self.store._records, self.deleted = saved[0], saved[1]

    @route("DELETE", _V + r"/composite/sobjects", "collections.delete")
    def collection_delete(self, request: SandboxRequest, version: str) -> SandboxResponse:
        ids = [i for i in (request.query.get("ids") or "").split(",") if i]
        if not ids:
            raise failure(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > COLLECTION_LIMIT:
            raise failure(400, "EXCEEDED_ID_LIMIT", f"Exceeded max size limit of {COLLECTION_LIMIT}")
        all_or_none = (request.query.get("allOrNone") or "false").lower() == "true"
        return self._all_or_none(
            all_or_none, lambda: [self._save(lambda i=record_id: self._delete(i), created=None) for record_id in ids]
        )

    def _collection(self, request: SandboxRequest) -> tuple[list[dict[str, Any]], bool]:
        body = self.json_object(request)
        records = body.get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise failure(400, "JSON_PARSER_ERROR", "records must be a list of sObjects")
        if len(records) > COLLECTION_LIMIT:
            raise failure(400, "EXCEEDED_ID_LIMIT", f"Exceeded max size limit of {COLLECTION_LIMIT}")
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            raise failure(400, "JSON_PARSER_ERROR", "allOrNone must be true or false")
        return records, all_or_none

    def _upsert_result(
        self, sobject: str, field: str, raw: dict[str, Any], index: dict[str, list[str]]
    ) -> dict[str, Any]:
        value = raw.get(field)
        if value is None or value == "":
            return {
                "success": False,
                "errors": [SaveError("MISSING_ARGUMENT", f"{field} not specified", [field]).as_dict()],
            }
        fields = self._fields(sobject, raw)
        matches = [self._get(sobject, i) for i in index.get(_text(value), [])]
        try:
            saved, created = self._upsert(sobject, field, value, fields, [m for m in matches if m])
        except SaveError as error:
            return {"id": None, "success": False, "errors": [error.as_dict()]}
        if created:
            index.setdefault(_text(value), []).append(saved["Id"])
        return {"id": saved["Id"], "success": True, "errors": [], "created": created}

    def _save(self, action: Any, created: bool | None) -> dict[str, Any]:
        try:
            saved = action()
        except SaveError as error:
            return {"id": None, "success": False, "errors": [error.as_dict()]}
        out = {"id": saved["Id"], "success": True, "errors": []}
        return out if created is None else {**out, "created": created}

    # -- query ---------------------------------------------------------------------------------
    @route("GET", _V + r"/query", "query")
    @route("GET", _V + r"/queryAll", "query_all")
    def query(self, request: SandboxRequest, version: str) -> SandboxResponse:
        """A SOQL subset: SELECT f1, f2 FROM Object [WHERE f IN ('a', 'b') | WHERE f = 'a']."""
        found = _SOQL.match(request.query.get("q", ""))
        if not found:
            raise failure(
                400, "MALFORMED_QUERY", "unexpected token: only SELECT .. FROM .. [WHERE f IN (..)] is emulated"
            )
        sobject = found.group("sobject")
        self._known(sobject)
        fields = [f.strip() for f in found.group("fields").split(",")]
        where = found.group("field")
        if where:
            listed = found.group("values") if found.group("values") is not None else found.group("value")
            wanted = {_unescape(v) for v in _LITERAL.findall(listed)}
            rows = self.store.find(sobject, lambda r: _text(r.get(where)) in wanted)
        else:
            rows = self.store.all(sobject)
        records = [
            {
                "attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{r['Id']}"},
                **{f: _public(sobject, r).get(f) for f in fields},
            }
            for r in rows
        ]
        locator = f"01g{len(self.cursors) + 1:012d}AAA"
        self.cursors[locator] = records
        return self._page(version, locator, 0)

    @route("GET", _V + r"/query/(?P<locator>01g\w+)-(?P<offset>\d+)", "query.more")
    @route("GET", _V + r"/queryAll/(?P<locator>01g\w+)-(?P<offset>\d+)", "query_all.more")
    def query_more(self, request: SandboxRequest, version: str, locator: str, offset: str) -> SandboxResponse:
        if (
            locator not in self.cursors
            or int(offset) > len(self.cursors[locator])
            or int(offset) % facts.QUERY_PAGE_SIZE
        ):
            raise failure(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, locator, int(offset))

    def _page(self, version: str, locator: str, offset: int) -> SandboxResponse:
        """One page of ``QUERY_PAGE_SIZE`` records; ``nextRecordsUrl`` while more remain."""
        records = self.cursors[locator]
        end = offset + facts.QUERY_PAGE_SIZE
        body: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records), "records": records[offset:end]}
        if end < len(records):
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        else:
            self.cursors.pop(locator, None)  # a locator is spent once its last page was read
        return json_response(200, body)

    # -- Bulk API 2.0 -----------------------------------------------------------------------
    @route("POST", _V + r"/jobs/ingest", "bulk.create_job")
    def create_job(self, request: SandboxRequest, version: str) -> SandboxResponse:
        body = self.json_object(request)
        sobject, operation = str(body.get("object") or ""), body.get("operation")
        self._known(sobject)
        if operation not in ("insert", "update", "upsert", "delete", "hardDelete"):
            raise failure(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if operation == "upsert":
            self._external_id(sobject, str(body.get("externalIdFieldName") or ""))
        if body.get("contentType", "CSV") != "CSV":
            raise failure(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
        job_id = f"750{len(self.jobs) + 1:012d}AAA"
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        self.jobs[job_id] = {
            "id": job_id,
            "operation": operation,
            "object": sobject,
            "createdById": "005000000000001AAA",
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "externalIdFieldName": body.get("externalIdFieldName"),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "contentUrl": f"services/data/v{version}/jobs/ingest/{job_id}/batches",
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": "COMMA",
            "_csv": b"",
            "_polls": 0,
            "_ok": [],
            "_failed": [],
        }
        return json_response(200, _job_info(self.jobs[job_id]))

    @route("PUT", _V + r"/jobs/ingest/(?P<job_id>\w+)/batches", "bulk.upload")
    def upload(self, request: SandboxRequest, version: str, job_id: str) -> SandboxResponse:
        job = self._job(job_id)
        if job["state"] != "Open":
            raise failure(400, "INVALIDJOBSTATE", f"Job {job_id} is not open for upload")
        if "csv" not in request.headers.get("Content-Type", ""):
            raise failure(400, "INVALIDJOB", "Content-Type must be text/csv")
        if job["_csv"]:
            raise failure(400, "INVALIDJOBSTATE", "Only one upload is allowed per job")  # Bulk 2.0: one batch per job
        job["_csv"] = request.body
        return SandboxResponse(status=201)

    @route("PATCH", _V + r"/jobs/ingest/(?P<job_id>\w+)", "bulk.set_state")
    def set_state(self, request: SandboxRequest, version: str, job_id: str) -> SandboxResponse:
        job = self._job(job_id)
        state = self.json_object(request).get("state")
        if state == "UploadComplete" and job["state"] == "Open":
            job["state"] = "UploadComplete"
        elif state == "Aborted" and job["state"] not in ("JobComplete", "Failed"):
            job["state"] = "Aborted"
        else:
            raise failure(
                400, "INVALIDJOBSTATE", f"Cannot change the state of job {job_id} from {job['state']} to {state}"
            )
        return json_response(200, _job_info(job))

    @route("GET", _V + r"/jobs/ingest/(?P<job_id>\w+)", "bulk.job_info")
    def job_info(self, request: SandboxRequest, version: str, job_id: str) -> SandboxResponse:
        """The job moves UploadComplete -> InProgress (first poll) -> JobComplete (next poll)."""
        job = self._job(job_id)
        if job["state"] == "InProgress":
            self._process(job)
        elif job["state"] == "UploadComplete":
            job["state"] = "InProgress"
        return json_response(200, _job_info(job))

    @route(
        "GET",
        _V + r"/jobs/ingest/(?P<job_id>\w+)/(?P<kind>successfulResults|failedResults|(?i:unprocessedrecords))",
        "bulk.{kind}",
    )
    def results(self, request: SandboxRequest, version: str, job_id: str, kind: str) -> SandboxResponse:
        """A finished job's results, CSV. The docs give "Formats: CSV" and no other; stricter
        reading: a request must ask for CSV (``Accept: text/csv``, as simple-salesforce does), or
        it is refused 406. ``unprocessedrecords`` is matched without regard to case (the docs
        spell it so, simple-salesforce asks for ``unprocessedRecords``)."""
        job = self._job(job_id)
        if not _accepts_csv(request.headers.get("Accept", "")):
            raise failure(
                406,
                "NOT_ACCEPTABLE",
                f"Results are only available as {facts.BULK_RESULTS_MEDIA_TYPE}: send Accept: text/csv",
            )
        if job["state"] not in facts.BULK_DONE_STATES:
            raise failure(400, "INVALIDJOBSTATE", f"Job {job_id} is not finished (state {job['state']})")
        header = job.get("_header") or (_csv_rows(job["_csv"]) or [[]])[0]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        if kind.lower() == "unprocessedrecords":
            writer.writerow(header)
            writer.writerows(job["_unprocessed"] if "_unprocessed" in job else _csv_rows(job["_csv"])[1:])
        else:
            extra = ["sf__Id", "sf__Created"] if kind == "successfulResults" else ["sf__Id", "sf__Error"]
            writer.writerow(extra + header)
            writer.writerows(job["_ok"] if kind == "successfulResults" else job["_failed"])
        return SandboxResponse(
            status=200, raw=out.getvalue().encode("utf-8"), headers={"Content-Type": "text/csv; charset=UTF-8"}
        )

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise failure(404, "NOT_FOUND", f"Job {job_id} not found")
        return job

    def _process(self, job: dict[str, Any]) -> None:
        rows = _csv_rows(job["_csv"])
        if not rows or not rows[0]:
            job.update(state="Failed", errorMessage="InvalidBatch : Empty CSV file")
            return
        header, sobject, op = rows[0], job["object"], job["operation"]
        job["_header"] = header
        # Assumed: a dotted column (a relationship by external id) is taken as it is.
        bad = [c for c in header if "." not in c and not self._field_known(sobject, c)]
        if bad:
            job.update(state="Failed", errorMessage=f"InvalidBatch : Field name not found : {bad[0]}")
            return
        ext = job.get("externalIdFieldName")
        values = [dict(zip(header, row)).get(ext) for row in rows[1:]] if op == "upsert" and ext else []
        index = self._index(sobject, ext, values)
        stop, self.bulk_fail_after = self.bulk_fail_after, None
        body = rows[1:]
        done = body if stop is None else body[:stop]
        for row in done:
            self._process_row(job, sobject, op, ext, index, dict(zip(header, row)), row)
        job["_unprocessed"] = body[len(done) :]
        job["numberRecordsProcessed"] = len(done)
        job["numberRecordsFailed"] = len(job["_failed"])
        if stop is None:
            job["state"] = "JobComplete"
        else:  # the fault knob: committed rows stay committed, the rest were never processed
            job.update(
                state="Failed", errorMessage="InternalServerError : the job stopped before every row was processed"
            )

    def _process_row(
        self,
        job: dict[str, Any],
        sobject: str,
        op: str,
        ext: str | None,
        index: dict[str, list[str]],
        cells: dict[str, str],
        row: list[str],
    ) -> None:
        # Bulk CSV: an empty cell leaves the field alone, #N/A blanks it.
        fields: dict[str, Any] = {}
        for name, value in cells.items():
            if value == "" or name == "Id":
                continue
            head, _, tail = name.partition(".")  # Account.Ext__c: the parent by external id
            if tail:
                fields[head] = {tail: value}
            else:
                fields[name] = None if value == "#N/A" else value
        record_id = cells.get("Id", "")
        try:
            if op == "insert":
                saved, created = self._create(sobject, fields), True
            elif op == "update":
                saved, created = self._update_by_id(sobject, record_id, fields), False
            elif op in ("delete", "hardDelete"):
                saved, created = self._delete(record_id), False
            else:
                assert ext is not None
                value = cells.get(ext, "")
                if not value:
                    raise SaveError("MISSING_ARGUMENT", f"{ext} not specified", [ext])
                matches = [m for m in (self._get(sobject, i) for i in index.get(value, [])) if m]
                saved, created = self._upsert(sobject, ext, value, fields, matches)
                if created:
                    index.setdefault(value, []).append(saved["Id"])
        except SaveError as error:
            # Assumed format of sf__Error: "<statusCode>:<message>:<fields> --".
            job["_failed"].append(["", f"{error.code}:{error.message}:{','.join(error.fields)} --", *row])
            return
        job["_ok"].append([saved["Id"], "true" if created else "false", *row])

    # -- the records ---------------------------------------------------------------------------
    def _known(self, sobject: str) -> None:
        if sobject not in KEY_PREFIXES:
            raise failure(
                404, "NOT_FOUND", f"The requested resource does not exist (sObject type '{sobject}' is not supported)"
            )

    def _field_known(self, sobject: str, field: str) -> bool:
        return field.endswith("__c") or field in STANDARD_FIELDS[sobject] or field in _READ_ONLY

    def _external_id(self, sobject: str, field: str, by_id: bool = True) -> None:
        """A field an upsert (or a look-up) may name: a custom field flagged External ID, or
        ``Id`` where the endpoint takes it (``by_id``). Assumed: an undeclared custom field is
        flagged External ID; a declared one only when declared unique."""
        declared = self.custom_fields.get((sobject, field))
        if (
            field == "Id"
            and by_id
            or declared is None
            and field.endswith("__c")
            or declared is not None
            and declared.unique
        ):
            return
        raise failure(400, "INVALID_FIELD", f"Field {field} is not an External ID or Id field for {sobject}")

    def _fields(self, sobject: str, raw: dict[str, Any]) -> dict[str, Any]:
        """The writable fields of a request record; an unknown field fails the whole request."""
        fields = {}
        for name, value in raw.items():
            if name == "attributes":
                continue
            if isinstance(value, dict) and (sobject, name) in RELATIONSHIPS:
                fields[name] = value  # a parent by external id, resolved per record
                continue
            if not self._field_known(sobject, name):
                raise failure(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}")
            if isinstance(value, (dict, list)):
                raise failure(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {name} from a nested value")
            fields[name] = value
        return fields

    def _check(self, sobject: str, record: Record) -> None:
        missing = [f for f in REQUIRED[sobject] if record.get(f) in (None, "")]
        if missing:
            raise SaveError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        for name in EMAIL_FIELDS:
            value = record.get(name)
            if value not in (None, "") and not _EMAIL.match(str(value)):
                raise SaveError("INVALID_EMAIL_ADDRESS", f"{name}: invalid email address: {value}", [name])
        for name in _READ_ONLY:
            if name in record and name != "Id":
                raise SaveError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}", [name])
        for (obj, name), declared in self.custom_fields.items():
            value = record.get(name)
            if obj != sobject or not declared.unique or value in (None, ""):
                continue
            twin = next((r for r in self._matching(sobject, name, value) if r["Id"] != record.get("Id")), None)
            if twin is not None:
                raise SaveError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {name} duplicates value on record with id: {twin['Id']}",
                    [name],
                )

    def _resolve(self, sobject: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Parents given by external id (``{"Account": {"Ext__c": "1"}}``) become lookup ids."""
        out = {}
        for name, value in fields.items():
            if not isinstance(value, dict):
                out[name] = value
                continue
            lookup, parent = RELATIONSHIPS.get((sobject, name), (None, ""))
            keys = [k for k in value if k != "attributes"]
            if lookup is None or len(keys) != 1:
                raise SaveError("INVALID_FIELD", f"Invalid relationship {name} on {sobject}", [name])
            field, wanted = keys[0], value[keys[0]]
            found = self._matching(parent, field, wanted)
            if len(found) != 1:
                what = "not found" if not found else "matches more than one record"
                raise SaveError(
                    "INVALID_FIELD",
                    f"Foreign key external ID: {wanted} {what} for field {field} in entity {parent}",
                    [name],
                )
            out[lookup] = found[0]["Id"]
        return out

    def _create(self, sobject: str, fields: dict[str, Any]) -> Record:
        record = {k: v for k, v in self._resolve(sobject, fields).items() if v is not None}
        self._check(sobject, record)
        now = _now()
        stored = self.store.insert(sobject, {**record, "CreatedDate": now, "LastModifiedDate": now})
        stored["Id"] = _make_id(sobject, stored["id"])
        return self.store.replace(sobject, stored["id"], stored)

    def _update(self, sobject: str, existing: Record, fields: dict[str, Any]) -> Record:
        record = {**existing, **self._resolve(sobject, fields)}
        record = {k: v for k, v in record.items() if v is not None}
        self._check(sobject, {k: v for k, v in record.items() if k not in ("CreatedDate", "LastModifiedDate")})
        record["LastModifiedDate"] = _now()
        return self.store.replace(sobject, existing["id"], record)

    def _update_by_id(self, sobject: str, record_id: str, fields: dict[str, Any]) -> Record:
        existing = self._get(sobject, record_id)
        if existing is None:
            raise self._missing(record_id)
        return self._update(sobject, existing, fields)

    def _upsert(
        self, sobject: str, field: str, value: Any, fields: dict[str, Any], matches: list[Record]
    ) -> tuple[Record, bool]:
        if len(matches) > 1:
            ids = ", ".join(m["Id"] for m in matches)
            raise SaveError(
                "DUPLICATE_EXTERNAL_ID", f"{field}: more than one record found for external id field: [{ids}]", [field]
            )
        if matches:
            return self._update(sobject, matches[0], fields), False
        return self._create(sobject, {**fields, field: value}), True

    def _delete(self, record_id: str) -> Record:
        sobject = _object_of(record_id)
        existing = self._get(sobject, record_id) if sobject else None
        if existing is None or sobject is None:
            raise self._missing(record_id)
        self.store.delete(sobject, existing["id"])
        self.deleted.add(record_id)
        return existing

    def _missing(self, record_id: str) -> SaveError:
        if record_id in self.deleted:
            return SaveError("ENTITY_IS_DELETED", "entity is deleted")
        if not re.fullmatch(r"\w{15}|\w{18}", record_id or ""):
            return SaveError("MALFORMED_ID", f"malformed id {record_id}")
        return SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")

    def _get(self, sobject: str, record_id: str) -> Record | None:
        number = _number_of(sobject, record_id)
        return self.store.get(sobject, number) if number is not None else None

    def _matching(self, sobject: str, field: str, value: Any) -> list[Record]:
        return self.store.find(sobject, lambda r: _text(r.get(field)) == _text(value))

    def _index(self, sobject: str, field: str | None, values: Iterable[Any]) -> dict[str, list[str]]:
        """external id value -> Ids, for the values a request or job carries (the store has no
        indexes; one scan that copies only the matching records)."""
        index: dict[str, list[str]] = {}
        wanted = {_text(v) for v in values if v not in (None, "")}
        if field and wanted:
            for stored in self.store.find(sobject, lambda r: r.get(field) is not None and _text(r[field]) in wanted):
                index.setdefault(_text(stored[field]), []).append(stored["Id"])
        return index

    def records(self, resource: str) -> list[Record]:
        return [_public(resource, r) for r in self.store.all(resource)]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _reference_to(sobject: str, name: str, relationship: str | None) -> list[str]:
    """describe ``referenceTo`` of a lookup field: the object it points at."""
    if name in REFERENCE_TO:
        return [REFERENCE_TO[name]]
    if relationship is not None:
        return [RELATIONSHIPS[(sobject, relationship)][1]]
    return []


_SOAP_TYPES = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "dateTime",
}


def _request_size(prefix: str, request: SandboxRequest) -> int:
    """Bytes of the request line's URI plus the headers, as sent (the path re-quoted, the query
    form-encoded as requests and urllib encode it)."""
    uri = len(quote(f"/{prefix}{request.path}")) + (
        1 + len(urlencode(request.query_all, doseq=True)) if request.query_all else 0
    )
    return uri + sum(len(k) + len(v) + 4 for k, v in request.headers.items())


def _basic_client(header: str) -> tuple[str, str] | None:
    """``Authorization: Basic base64(client_id:client_secret)``, or None."""
    if not header.startswith("Basic "):
        return None
    try:
        pair = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = pair.partition(":")
    return client_id, secret


def _instance_url(request: SandboxRequest, prefix: str) -> str:
    """The org's URL, as the token answer gives it: here, this sandbox's own address."""
    host = request.headers.get("Host") or "127.0.0.1"
    return f"http://{host}/{prefix}"


def _accepts_csv(accept: str) -> bool:
    return any(part.split(";")[0].strip().lower() == facts.BULK_RESULTS_MEDIA_TYPE for part in accept.split(","))


def _make_id(sobject: str, number: int) -> str:
    return f"{KEY_PREFIXES[sobject]}5g{number:010d}AAA"


def _number_of(sobject: str, record_id: str) -> int | None:
    record_id = record_id[:15] + "AAA" if len(record_id) == 15 else record_id
    if len(record_id) != 18 or not record_id.startswith(KEY_PREFIXES[sobject] + "5g") or not record_id[5:15].isdigit():
        return None
    return int(record_id[5:15])


def _object_of(record_id: str) -> str | None:
    return next((name for name, prefix in KEY_PREFIXES.items() if (record_id or "").startswith(prefix + "5g")), None)


def _type_of(raw: dict[str, Any]) -> str:
    attributes = raw.get("attributes")
    if not isinstance(attributes, dict) or not attributes.get("type"):
        raise failure(400, "INVALID_TYPE", "Must send a concrete entity type: each record needs attributes.type")
    return str(attributes["type"])


def _public(sobject: str, record: Record) -> Record:
    """A record as Salesforce shows it: ``Id`` first, no store bookkeeping."""
    return {"attributes": {"type": sobject}, **{k: v for k, v in record.items() if k != "id"}}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal)


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _job_info(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}
