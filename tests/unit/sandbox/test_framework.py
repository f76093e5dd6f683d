"""The sandbox framework and server: routing, limits, stats, faults, admin API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.client import HTTPConnection

import pytest
import requests

from dbt_revsync.crms.freshsales.emulator import DEFAULT_API_KEY, FreshsalesEmulator
from dbt_revsync.sandbox import (
    Emulator,
    FaultRule,
    Headers,
    Limits,
    Quota,
    RecordStore,
    RequestRejected,
    RollingWindow,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    WindowState,
    create_emulators,
    emulator_names,
    json_response,
    route,
    serve,
)

AUTH = {"Authorization": f"Token token={DEFAULT_API_KEY}"}


class ToyEmulator(Emulator):
    """A minimal second vendor: proves the framework is not Freshsales-shaped."""

    prefix = "toy"
    resources = ("things",)
    default_api_keys = ("toy-key",)

    def authenticate(self, request: SandboxRequest) -> bool:
        return request.headers.get("X-Api-Key") in self.api_keys

    def rate_limit_headers(self, windows: list[WindowState], limited: bool) -> dict[str, str]:
        return {f"X-Limit-{window.name}": str(window.remaining) for window in windows}

    @route("POST", r"/things", "things.create")
    def create(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(201, self.store.insert("things", self.json_object(request)))

    @route("GET", r"/things/(?P<thing_id>\d+)", "things.view")
    def view(self, request: SandboxRequest, thing_id: str) -> SandboxResponse:
        record = self.store.get("things", int(thing_id))
        if record is None:
            raise RequestRejected(404, "no such thing")
        return json_response(200, record)

    @route("GET", r"/boom", "boom")
    def boom(self, request: SandboxRequest) -> SandboxResponse:
        raise RuntimeError("emulator bug")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(emulators=[FreshsalesEmulator(), ToyEmulator()]) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


def create_contact(http: requests.Session, server: SandboxServer, email: str = "a@example.com") -> requests.Response:
    return http.post(f"{server.url}/freshsales/contacts", json={"contact": {"email": email}}, timeout=5)


# -- the pieces, without HTTP ------------------------------------------------------


def test_headers_are_case_insensitive() -> None:
    headers = Headers({"Content-Type": "application/json"})
    assert headers["content-type"] == "application/json"
    assert "CONTENT-TYPE" in headers
    assert headers.get("x-missing") is None
    assert list(headers) == ["Content-Type"]


def test_request_parses_json_and_reports_malformed_json() -> None:
    assert SandboxRequest("post", "/x", body=b'{"a": 1}').json == {"a": 1}
    broken = SandboxRequest("POST", "/x", body=b"{nope")
    assert broken.json is None and broken.json_error
    assert broken.method == "POST"


def test_a_quota_counts_a_request_in_every_window_or_in_none() -> None:
    now = [1000.0]
    quota = Quota(Limits(per_minute=5, per_hour=1), clock=lambda: now[0])
    assert quota.acquire()[0]
    allowed, windows = quota.acquire()
    assert not allowed and not any(window.allowed for window in windows)
    assert {window.name: window.used for window in windows} == {"minute": 1, "hour": 1}  # counted nowhere


def test_a_rolling_window_that_does_not_enforce_counts_but_never_refuses() -> None:
    now = [0.0]
    window = RollingWindow(1, 10.0, clock=lambda: now[0])
    assert [window.hit().allowed for _ in range(3)] == [True, True, True]
    enforced = RollingWindow(1, 10.0, enforce=True, clock=lambda: now[0])
    assert enforced.hit().allowed and not enforced.hit().allowed
    now[0] += 10.0
    state = enforced.hit()
    assert (state.allowed, state.used, state.remaining, state.reset_after) == (True, 1, 0, 10.0)


def test_record_store_assigns_ids_and_hands_out_copies() -> None:
    store = RecordStore(["things"], first_id=100)
    first = store.insert("things", {"name": "a", "id": 5})
    second = store.insert("things", {"name": "b"})
    assert (first["id"], second["id"]) == (100, 101)
    first["name"] = "changed"
    assert store.get("things", 100) == {"id": 100, "name": "a"}
    assert store.delete("things", 100) is True
    assert store.delete("things", 100) is False
    assert store.snapshot() == {"things": [{"id": 101, "name": "b"}]}
    store.reset()
    assert store.insert("things", {})["id"] == 102  # ids are never given twice
    with pytest.raises(KeyError):
        store.all("nope")


def test_quota_slides_its_windows() -> None:
    now = [1000.0]
    limiter = Quota(Limits(per_minute=2, per_hour=3), clock=lambda: now[0])
    assert limiter.acquire()[0] and limiter.acquire()[0]
    allowed, windows = limiter.acquire()
    assert not allowed
    minute = next(window for window in windows if window.name == "minute")
    assert minute.remaining == 0 and 0 < minute.reset_after <= 60
    now[0] += 61  # the minute window has slid past both requests
    assert limiter.acquire()[0]
    assert not limiter.acquire()[0]  # the hour window is full (3)
    now[0] += 3600
    assert limiter.acquire()[0]


def test_limits_refuse_bad_values() -> None:
    with pytest.raises(ValueError):
        Limits(per_minute=-1)
    with pytest.raises(ValueError):
        Limits.from_mapping({"per_minute": 1, "per_day": 5})


def test_emulator_routes_auth_and_errors_without_http() -> None:
    toy = ToyEmulator()
    key = {"X-Api-Key": "toy-key"}
    assert toy.handle(SandboxRequest("GET", "/things/1")).status == 401
    created = toy.handle(SandboxRequest("POST", "/things", headers=key, json={"name": "a"}))
    assert created.status == 201 and created.body["id"] == 1 and created.route == "things.create"
    assert toy.handle(SandboxRequest("GET", "/things/1/", headers=key)).body["name"] == "a"
    assert toy.handle(SandboxRequest("GET", "/things/2", headers=key)).body == {
        "error": {"code": 404, "message": "no such thing"}
    }
    assert toy.handle(SandboxRequest("DELETE", "/things/1", headers=key)).route == "unmatched"
    assert toy.handle(SandboxRequest("GET", "/boom", headers=key)).status == 500
    assert toy.handle(SandboxRequest("POST", "/things", headers=key, body=b"[")).status == 400
    assert toy.stats.snapshot()["by_status"] == {"200": 1, "201": 1, "400": 1, "401": 1, "404": 2, "500": 1}
    toy.reset()
    assert toy.snapshot() == {"things": []} and toy.stats.snapshot()["requests"] == 0


def test_registry_builds_every_registered_emulator() -> None:
    emulators = create_emulators()
    assert set(emulators) == set(emulator_names())
    assert isinstance(emulators["freshsales"], FreshsalesEmulator)


# -- the server ------------------------------------------------------------------


def test_unknown_prefix_answers_404_json(server: SandboxServer, http: requests.Session) -> None:
    answer = http.get(f"{server.url}/nocrm/contacts", timeout=5)
    assert answer.status_code == 404
    assert "/freshsales" in answer.json()["emulators"]


def test_index_lists_emulators(server: SandboxServer, http: requests.Session) -> None:
    prefixes = [item["prefix"] for item in http.get(server.url, timeout=5).json()["emulators"]]
    assert prefixes == ["freshsales", "toy"]


def test_keep_alive_reuses_one_connection(server: SandboxServer) -> None:
    connection = HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/freshsales/contacts/1", headers=AUTH)
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        assert not first.will_close and sock is not None
        connection.request(
            "POST",
            "/freshsales/contacts",
            body=b'{"contact": {"email": "k@example.com"}}',
            headers={**AUTH, "Content-Type": "application/json"},
        )
        second = connection.getresponse()
        assert second.status == 200 and b"k@example.com" in second.read()
        assert connection.sock is sock
    finally:
        connection.close()


def test_per_minute_limit_answers_429_with_vendor_body(server: SandboxServer, http: requests.Session) -> None:
    server.set_limits("freshsales", per_minute=3)
    answers = [http.get(f"{server.url}/freshsales/contacts/1", timeout=5) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [404, 404, 404, 429, 429]
    assert answers[3].json() == {"errors": {"code": 429, "message": "Too many requests: API rate limit exceeded"}}
    assert "Retry-After" not in answers[3].headers
    assert not any(name.lower().startswith("x-ratelimit") for name in answers[3].headers)
    assert http.get(f"{server.url}/toy/things/1", headers={"X-Api-Key": "toy-key"}, timeout=5).status_code == 404


def test_per_hour_limit_answers_429(server: SandboxServer, http: requests.Session) -> None:
    server.set_limits("freshsales", per_minute=None, per_hour=2)
    codes = [create_contact(http, server, f"h{index}@example.com").status_code for index in range(3)]
    assert codes == [200, 200, 429]
    assert len(server.emulator("freshsales").records("contacts")) == 2


def test_limit_headers_are_an_emulator_hook(server: SandboxServer) -> None:
    server.set_limits("toy", per_minute=2)
    answers = [
        requests.get(f"{server.url}/toy/things/1", headers={"X-Api-Key": "toy-key"}, timeout=5) for _ in range(3)
    ]
    assert [answer.headers["X-Limit-minute"] for answer in answers] == ["1", "0", "0"]
    assert answers[2].status_code == 429


def test_server_limits_option_and_vendor_limits() -> None:
    with SandboxServer(emulators=["freshsales"], limits={"freshsales": {"per_minute": 1}}) as limited:
        assert limited.limits() == {"freshsales": {"per_minute": 1, "per_hour": None}}
    with SandboxServer(emulators=["freshsales"], limits="vendor") as vendor:
        assert vendor.limits()["freshsales"] == FreshsalesEmulator.vendor_limits.as_dict()
    with SandboxServer(emulators=["freshsales"]) as default:
        assert default.limits()["freshsales"] == {"per_minute": None, "per_hour": None}


def test_stats_count_every_request_that_reached_the_emulator(server: SandboxServer, http: requests.Session) -> None:
    server.set_limits("freshsales", per_minute=3)
    create_contact(http, server)
    http.get(f"{server.url}/freshsales/contacts/999", timeout=5)
    requests.get(f"{server.url}/freshsales/contacts/999", timeout=5)  # no key: 401
    http.get(f"{server.url}/freshsales/contacts/999", timeout=5)
    http.get(f"{server.url}/freshsales/contacts/999", timeout=5)  # 429
    stats = server.stats()["freshsales"]
    assert stats["requests"] == 5
    assert stats["by_route"] == {"GET contacts.view": 4, "POST contacts.create": 1}
    assert stats["by_status"] == {"200": 1, "401": 1, "404": 2, "429": 1}
    assert server.stats()["toy"]["requests"] == 0


# -- faults ------------------------------------------------------------------------


def test_status_fault_with_retry_after_then_normal(server: SandboxServer, http: requests.Session) -> None:
    server.add_fault(
        "status", status=503, retry_after=7, times=2, prefix="freshsales", method="POST", path=r"/contacts$"
    )
    codes = []
    for index in range(3):
        answer = create_contact(http, server, f"f{index}@example.com")
        codes.append((answer.status_code, answer.headers.get("Retry-After")))
    assert codes == [(503, "7"), (503, "7"), (200, None)]
    assert len(server.emulator("freshsales").records("contacts")) == 1
    assert server.faults.rules() == []
    stats = server.stats()["freshsales"]
    assert stats["faults"] == {"status": 2} and stats["requests"] == 1


def test_status_fault_429_uses_the_vendor_body(server: SandboxServer, http: requests.Session) -> None:
    server.add_fault("status", status=429, times=1)
    answer = http.get(f"{server.url}/freshsales/contacts/1", timeout=5)
    assert answer.status_code == 429 and answer.json()["errors"]["code"] == 429


def test_fault_filters_method_and_path(server: SandboxServer, http: requests.Session) -> None:
    server.add_fault("status", status=500, method="GET", path="^/freshsales/contacts/")
    assert create_contact(http, server).status_code == 200
    assert http.get(f"{server.url}/freshsales/contacts/16000000001", timeout=5).status_code == 500
    assert http.get(f"{server.url}/toy/things/1", timeout=5).status_code == 401


def test_delay_fault_slows_the_answer(server: SandboxServer, http: requests.Session) -> None:
    server.add_fault("delay", seconds=0.3, times=1)
    started = time.monotonic()
    answer = create_contact(http, server)
    assert time.monotonic() - started >= 0.3
    assert answer.status_code == 200


def test_drop_fault_closes_the_connection_unanswered(server: SandboxServer, http: requests.Session) -> None:
    server.add_fault("drop", times=1, method="POST")
    with pytest.raises(requests.ConnectionError):
        create_contact(http, server)
    assert server.emulator("freshsales").records("contacts") == []
    assert create_contact(http, server).status_code == 200  # the session recovers


def test_apply_then_drop_fault_applies_but_never_answers(server: SandboxServer, http: requests.Session) -> None:
    server.add_fault("apply_then_drop", times=1, prefix="freshsales")
    with pytest.raises(requests.ConnectionError):
        create_contact(http, server, "applied@example.com")
    contacts = server.emulator("freshsales").records("contacts")
    assert [contact["email"] for contact in contacts] == ["applied@example.com"]
    assert server.stats()["freshsales"]["by_status"] == {"200": 1}


def test_probability_faults_are_deterministic_with_a_seed() -> None:
    def pattern() -> list[int]:
        with SandboxServer(emulators=["freshsales"]) as running:
            running.add_fault("status", status=502, probability=0.5, seed=42)
            return [
                requests.get(f"{running.url}/freshsales/contacts/1", headers=AUTH, timeout=5).status_code
                for _ in range(20)
            ]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(502) < 20
    assert set(first) == {404, 502}


def test_fault_rule_validation() -> None:
    with pytest.raises(ValueError):
        FaultRule(action="explode")
    with pytest.raises(ValueError):
        FaultRule(action="delay")
    with pytest.raises(ValueError):
        FaultRule(action="status", times=0)
    with pytest.raises(ValueError):
        FaultRule.from_dict({"action": "drop", "colour": "red"})


# -- admin API ------------------------------------------------------------------------


def test_admin_state_stats_and_records(server: SandboxServer, http: requests.Session) -> None:
    create_contact(http, server)
    admin = f"{server.url}/_admin"
    state = requests.get(f"{admin}/state", timeout=5).json()
    assert [contact["email"] for contact in state["freshsales"]["contacts"]] == ["a@example.com"]
    assert state["toy"] == {"things": []}
    assert requests.get(f"{admin}/stats", timeout=5).json()["freshsales"]["requests"] == 1
    records = requests.get(f"{admin}/freshsales/contacts", timeout=5).json()
    assert [record["id"] for record in records] == [16000000001]
    assert requests.get(f"{admin}/freshsales/leads", timeout=5).status_code == 404
    assert requests.get(f"{admin}/nocrm/contacts", timeout=5).status_code == 404
    emulators = requests.get(f"{admin}/emulators", timeout=5).json()["emulators"]
    assert emulators[0]["api_keys"] == [DEFAULT_API_KEY]


def test_admin_faults_endpoints(server: SandboxServer, http: requests.Session) -> None:
    admin = f"{server.url}/_admin/faults"
    rules = [
        {"action": "status", "status": 429, "retry_after": 1, "times": 1},
        {"action": "status", "status": 500, "method": "DELETE"},
    ]
    added = requests.post(admin, json=rules, timeout=5)
    assert added.status_code == 201 and [rule["id"] for rule in added.json()["faults"]] == [1, 2]
    answer = create_contact(http, server)
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "1")
    assert len(requests.get(admin, timeout=5).json()["faults"]) == 1
    assert requests.delete(admin, timeout=5).json() == {"cleared": 1}
    assert create_contact(http, server).status_code == 200
    assert requests.post(admin, json=[{"action": "nope"}], timeout=5).status_code == 400
    assert requests.post(admin, data=b"{", timeout=5).status_code == 400
    partly_bad = [{"action": "drop"}, {"action": "drop", "prefix": "nocrm"}]
    assert requests.post(admin, json=partly_bad, timeout=5).status_code == 404
    assert server.faults.rules() == []


def test_admin_limits_endpoint(server: SandboxServer, http: requests.Session) -> None:
    answer = requests.post(
        f"{server.url}/_admin/limits", json={"prefix": "freshsales", "per_minute": 1, "per_hour": None}, timeout=5
    )
    assert answer.json()["freshsales"] == {"per_minute": 1, "per_hour": None}
    assert [create_contact(http, server, f"l{index}@example.com").status_code for index in range(2)] == [200, 429]
    bad = requests.post(f"{server.url}/_admin/limits", json={"prefix": "nocrm", "per_minute": 1}, timeout=5)
    assert bad.status_code == 404
    assert requests.post(f"{server.url}/_admin/limits", json={"per_minute": "x"}, timeout=5).status_code == 400


def test_admin_reset_forgets_records_stats_faults_but_keeps_limits(
    server: SandboxServer, http: requests.Session
) -> None:
    server.set_limits("freshsales", per_minute=2)
    create_contact(http, server)
    create_contact(http, server, "b@example.com")
    server.add_fault("drop")
    assert requests.post(f"{server.url}/_admin/reset", timeout=5).json() == {"reset": True}
    assert server.state()["freshsales"]["contacts"] == []
    assert server.stats()["freshsales"]["requests"] == 0
    assert server.faults.rules() == []
    assert create_contact(http, server).json()["contact"]["id"] == 16000000003  # ids go on, window is fresh
    assert server.limits()["freshsales"]["per_minute"] == 2


def test_python_reset(server: SandboxServer, http: requests.Session) -> None:
    create_contact(http, server)
    server.reset()
    assert server.state() == {"freshsales": {"contacts": [], "sales_accounts": [], "deals": []}, "toy": {"things": []}}


def test_unknown_admin_endpoint(server: SandboxServer) -> None:
    assert requests.get(f"{server.url}/_admin/a/b/c", timeout=5).status_code == 404
    assert requests.put(f"{server.url}/_admin/stats", timeout=5).status_code == 404


def test_admin_endpoints_answer_as_before_through_the_route_table(server: SandboxServer) -> None:
    def ask(method: str, path: str, client: str = "127.0.0.1") -> tuple[int, object]:
        answer = server.dispatch(method, path, "", [], b"", client=client)
        assert answer is not None
        return answer.status, answer.body

    assert ask("GET", "/_admin")[1] == ask("GET", "/_admin/")[1] == ask("GET", "/_admin/emulators")[1]
    assert ask("GET", "/_admin//stats") == ask("GET", "/_admin/stats")
    assert ask("GET", "/_admin/toy") == (200, {"things": []})
    assert ask("GET", "/_admin/reset")[0] == 404  # no emulator is called "reset"
    assert ask("POST", "/_admin") == (404, {"error": "no admin endpoint POST /_admin/"})
    assert ask("GET", "/_admin/stats", client="10.0.0.1")[0] == 403


# -- life cycle ----------------------------------------------------------------------


def test_stop_closes_the_port_and_kept_alive_connections(http: requests.Session) -> None:
    running = SandboxServer(emulators=["freshsales"]).start()
    url = running.url
    assert create_contact(http, running).status_code == 200
    running.stop()
    running.stop()  # twice is fine
    with pytest.raises(requests.ConnectionError):
        http.get(f"{url}/freshsales/contacts/16000000001", timeout=5)
    with pytest.raises(RuntimeError):
        _ = running.url


def test_url_needs_a_started_server() -> None:
    with pytest.raises(RuntimeError):
        _ = SandboxServer().url


def test_serve_prints_url_and_keys_and_stops_on_interrupt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(self: SandboxServer) -> None:
        self.bind()
        raise KeyboardInterrupt

    monkeypatch.setattr(SandboxServer, "serve_forever", interrupted)
    serve("127.0.0.1", 0, emulators=["freshsales"])
    printed = capsys.readouterr().out
    assert "http://127.0.0.1:" in printed
    assert "/freshsales" in printed and DEFAULT_API_KEY in printed
    assert "Stopping" in printed


def test_apply_then_answer_fault_applies_and_answers_what_the_rule_says(
    server: SandboxServer, http: requests.Session
) -> None:
    server.add_fault("apply_then_answer", status=201, times=1, prefix="freshsales", method="POST")
    server.add_fault(
        "apply_then_answer",
        status=200,
        body="<html>maintenance</html>",
        headers={"Content-Type": "text/html"},
        times=1,
        prefix="freshsales",
        method="POST",
    )
    empty = create_contact(http, server, "empty@example.com")
    assert (empty.status_code, empty.content) == (201, b"")
    page = create_contact(http, server, "page@example.com")
    assert (page.status_code, page.text, page.headers["Content-Type"]) == (200, "<html>maintenance</html>", "text/html")
    emails = sorted(contact["email"] for contact in server.emulator("freshsales").records("contacts"))
    assert emails == ["empty@example.com", "page@example.com"]  # both applied


def test_apply_then_strip_fault_removes_keys_from_the_answer(server: SandboxServer, http: requests.Session) -> None:
    server.add_fault("apply_then_strip", body=["id"], times=1, prefix="freshsales")
    answer = create_contact(http, server, "stripped@example.com")
    assert answer.status_code == 200 and "id" not in answer.json()["contact"] and answer.json()["contact"]["email"]
    assert len(server.emulator("freshsales").records("contacts")) == 1
    with pytest.raises(ValueError):
        FaultRule(action="apply_then_strip")
