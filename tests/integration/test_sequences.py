"""Model-based: random sequences of row edits, YAML edits, people's edits in the CRM and
pushes (plain, killed, faulted, overlapping), on a real dbt-duckdb project and the real
sandbox, with invariants checked after every step.

The machine finds data loss that single-operation tests miss. After every step: no record
a person made is deleted or re-keyed, no two records share an upsert key value (append
aside), no API key in any output. After every push: the push touched no other connection
or object than the sync's, and every remembered id of a row in the model names that row's
record in the sync's current connection and object. After a push that exits 0: the CRM
holds exactly the model's projection (under mirror: nothing the sync created for rows that
left the model).

Budget: ``REVSYNC_SOAK=1`` (``make soak``) runs the long profile; CI runs a bounded,
derandomized one. The regression tests at the end replay the minimal counterexamples the
machine found, step by step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.integration import sequences as seq
from tests.integration.sequences import Config, Row, Target, World

pytestmark = pytest.mark.integration

SOAK = os.environ.get("REVSYNC_SOAK") == "1"

settings.register_profile(
    "revsync-ci",
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "revsync-soak",
    max_examples=150,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILE = settings(
    settings.get_profile("revsync-soak" if SOAK else "revsync-ci"),
    **({"max_examples": int(os.environ["REVSYNC_SEQ_EXAMPLES"])} if os.environ.get("REVSYNC_SEQ_EXAMPLES") else {}),
)

FAULTS = {
    "429": {"action": "status", "status": 429, "retry_after": 1, "times": 1},
    "503": {"action": "status", "status": 503, "times": 3},
    "slow": {"action": "delay", "seconds": 1.2, "times": 1},  # longer than the connection's timeout
    "applied, answer lost": {"action": "apply_then_drop", "times": 2, "probability": 0.5, "seed": 7},
}
NAMES = ("Acme", "Globex", "Initech", "Umbrella")
CITIES = ("Oslo", "Rome", "Lima")
TARGETS = [Target(c, o) for c in seq.CONNECTIONS for o in seq.OBJECTS]


def _event(text: str) -> None:
    """A Hypothesis event (shown by --hypothesis-show-statistics); nothing when a regression test replays steps."""
    if currently_in_test_context():
        event(text)


class PushSequences(RuleBasedStateMachine):
    """Steps on one named sync; the world is reset for every example."""

    world: World  # set by the test before the machine runs
    counts: dict[str, int] = {"examples": 0, "steps": 0}

    def __init__(self) -> None:
        super().__init__()
        self.counts["examples"] += 1
        self.world.reset()

    @property
    def known(self) -> seq.Knowledge:
        return self.world.known

    @initialize(mode=st.sampled_from(("mirror", "upsert")))
    def start(self, mode: str) -> None:
        _event("step: start")
        self.world.apply_config(Config(insert_mode=mode))

    # -- the model's rows ------------------------------------------------------------------------
    def _pick(self, pick: int) -> Row:
        rows = sorted(self.known.rows.values(), key=lambda r: r.account_id)
        return rows[pick % len(rows)]

    @rule(count=st.integers(1, 2), reuse=st.booleans())
    def add_rows(self, count: int, reuse: bool) -> None:
        """New rows; with ``reuse``, the first takes the key of a record a person made."""
        _event("step: add_rows")
        rows = dict(self.known.rows)
        exts = self.known.exts()
        people = sorted({p.ext for p in self.known.people} - exts)
        for index in range(count):
            n = self.known.number()
            ext = people[0] if reuse and index == 0 and people else f"e{n}"
            rows[n] = Row(n, f"alt-{n}", ext, NAMES[n % len(NAMES)], CITIES[n % len(CITIES)])
        self.world.put_rows(rows)

    @precondition(lambda self: self.known.rows)
    @rule(pick=st.integers(0, 20))
    def remove_row(self, pick: int) -> None:
        _event("step: remove_row")
        rows = dict(self.known.rows)
        del rows[self._pick(pick).account_id]
        self.world.put_rows(rows)

    @precondition(lambda self: self.known.rows)
    @rule(pick=st.integers(0, 20), name=st.sampled_from(NAMES), city=st.sampled_from(CITIES))
    def change_row(self, pick: int, name: str, city: str) -> None:
        _event("step: change_row")
        row = self._pick(pick)
        self.world.put_rows({**self.known.rows, row.account_id: Row(row.account_id, row.alt_id, row.ext, name, city)})

    @precondition(lambda self: self.known.rows)
    @rule(pick=st.integers(0, 20), new_key=st.integers(0, 40))
    def rekey_row(self, pick: int, new_key: int) -> None:
        """The primary key value changes; the upsert key value stays."""
        _event("step: rekey_row")
        row = self._pick(pick)
        rows = {k: r for k, r in self.known.rows.items() if k != row.account_id}
        if new_key in self.known.used:
            return  # a key value never comes back for another row
        self.known.used.add(new_key)
        if self.known.config.primary_key == "account_id":
            rows[new_key] = Row(new_key, row.alt_id, row.ext, row.name, row.city)
        else:
            rows[row.account_id] = Row(row.account_id, f"alt-{new_key}", row.ext, row.name, row.city)
        self.world.put_rows(rows)

    # -- YAML -----------------------------------------------------------------------------------
    def _configure(self, **changes: str) -> None:
        config = self.known.config
        self.world.apply_config(Config(**{**config.__dict__, **changes}))

    @rule(primary_key=st.sampled_from(seq.PRIMARY_KEYS))
    def set_primary_key(self, primary_key: str) -> None:
        _event("step: set_primary_key")
        self._configure(primary_key=primary_key)

    @rule(insert_mode=st.sampled_from(seq.MODES))
    def set_insert_mode(self, insert_mode: str) -> None:
        _event("step: set_insert_mode")
        self._configure(insert_mode=insert_mode)

    @rule(destination=st.sampled_from(seq.CONNECTIONS))
    def set_destination(self, destination: str) -> None:
        _event("step: set_destination")
        self._configure(destination=destination)

    @rule(obj=st.sampled_from(seq.OBJECTS))
    def set_object(self, obj: str) -> None:
        _event("step: set_object")
        self._configure(object=obj)

    # -- a person in the CRM ----------------------------------------------------------------------
    @rule(where=st.sampled_from(TARGETS), same_key=st.booleans(), pick=st.integers(0, 20))
    def person_creates(self, where: Target, same_key: bool, pick: int) -> None:
        """A record made in the CRM directly: with a model row's upsert key value (one the
        target holds no record for), or with a value of its own."""
        _event("step: person_creates")
        held = seq.exts_held(self.world, where)
        free = sorted(r.ext for r in self.known.rows.values() if r.ext not in held)
        ext = free[pick % len(free)] if same_key and free else f"p{self.known.number()}"
        self.world.person_creates(where, ext, f"Person {ext}")

    # -- pushes ---------------------------------------------------------------------------------
    def _pushing(self) -> tuple[set[str], seq.Snapshot]:
        return seq.exts_held(self.world, self.known.config.target), seq.snapshot_others(self.world)

    def _after_push(self, before: tuple[set[str], seq.Snapshot], code: int | None) -> None:
        seq.check_others_untouched(self.world, before[1])
        if code == 0:
            self.known.settled_here = True
            seq.check_projection(self.world, before[0])
        seq.check_state(self.world)  # after a push that did not exit 0: once one in this config did

    @rule()
    def push(self) -> None:
        """A plain push, with no fault: it must succeed, and settles the CRM."""
        _event("step: push")
        before = self._pushing()
        result = self.world.push()
        assert result.code == 0, f"a fault-free push exited {result.code}: {(result.out + result.err)[-1500:]}"
        self._after_push(before, result.code)

    @rule(fault=st.sampled_from(sorted(FAULTS)))
    def push_with_fault(self, fault: str) -> None:
        _event("step: push_with_fault")
        before = self._pushing()
        result = self.world.push_with_fault(FAULTS[fault])
        assert result.code in (0, 1), f"a push under {fault} exited {result.code}: {(result.out + result.err)[-1500:]}"
        self._after_push(before, result.code)

    @rule(after_requests=st.integers(1, 6))
    def push_killed(self, after_requests: int) -> None:
        """A push in its own process, slowed by the sandbox, SIGKILLed mid-run."""
        _event("step: push_killed")
        before = self._pushing()
        _event(f"killed mid-run: {self.world.push_killed(after_requests, delay=0.05)}")
        self._after_push(before, None)

    @rule()
    def push_twice_at_once(self) -> None:
        _event("step: push_twice_at_once")
        before = self._pushing()
        codes = self.world.push_twice_at_once()
        assert all(code in (0, 1) for code in codes), f"overlapping pushes exited {codes}"
        self._after_push(before, None)

    # -- after every step -----------------------------------------------------------------------
    @invariant()
    def nothing_lost_or_leaked(self) -> None:
        self.counts["steps"] += 1
        seq.check_always(self.world)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    main, other = seq.servers()
    try:
        yield World(tmp_path_factory.mktemp("sequences") / "project", main, other)
    finally:
        main.stop()
        other.stop()


def test_push_sequences_keep_the_crm_equal_to_the_model(world: World) -> None:
    """Fails on today's code (see the regression tests below) until the fixes land."""
    PushSequences.world = world
    PushSequences.counts = {"examples": 0, "steps": 0}
    started = time.monotonic()
    try:
        run_state_machine_as_test(PushSequences, settings=PROFILE)
    finally:
        counts = PushSequences.counts
        print(
            f"\n{counts['examples']} examples, {counts['steps'] - counts['examples']} steps, "
            f"{time.monotonic() - started:.0f} s"
        )


# ---- the machine's minimal counterexamples, replayed ------------------------------------------------
Steps = list[tuple[str, dict[str, Any]]]


def replay(world: World, mode: str, steps: Steps) -> None:
    """Run ``steps`` (rule name, arguments) on a fresh machine, checking the invariants after
    each, exactly as Hypothesis ran the counterexample."""
    PushSequences.world = world
    machine = PushSequences()
    machine.start(mode=mode)
    machine.nothing_lost_or_leaked()
    for name, arguments in steps:
        getattr(machine, name)(**arguments)
        machine.nothing_lost_or_leaked()


def test_mirror_keeps_the_record_of_a_row_whose_primary_key_changed(world: World) -> None:
    """Finding 1: row 1 becomes row 0 with the same upsert key value; mirror upserted the
    new key onto the record, then deleted it as the old key's."""
    replay(world, "mirror", [("push", {}), ("rekey_row", {"pick": 0, "new_key": 0}), ("push", {})])


def test_mirror_keeps_every_record_when_the_primary_key_changes_in_yaml(world: World) -> None:
    """Finding 1, through YAML: every new key upserts onto its record, every old key then
    deletes it."""
    replay(
        world,
        "mirror",
        [
            ("set_primary_key", {"primary_key": "alt_id"}),
            ("push", {}),
            ("set_primary_key", {"primary_key": "account_id"}),
            ("push", {}),
        ],
    )


def test_a_named_sync_moved_to_another_account_sends_every_row_there(world: World) -> None:
    """Finding 3: the sync keeps its state when ``destination`` changes, so the other
    account gets nothing (the rows look unchanged)."""
    replay(world, "upsert", [("push", {}), ("set_destination", {"destination": "crm_b"}), ("push", {})])


def test_a_named_sync_moved_to_another_account_never_overwrites_its_records(world: World) -> None:
    """Finding 3: ids remembered from crm_a are used against crm_c, whose own record with the
    same id (made there by a person) is overwritten."""
    replay(
        world,
        "upsert",
        [
            ("person_creates", {"where": Target("crm_c", "sales_accounts"), "same_key": False, "pick": 0}),
            ("push", {}),
            ("set_destination", {"destination": "crm_c"}),
            ("set_insert_mode", {"insert_mode": "mirror"}),
            ("push", {}),
        ],
    )


def test_a_named_sync_moved_to_another_object_never_overwrites_its_records(world: World) -> None:
    """Finding 3: ids remembered for sales accounts are used against contacts, and a contact
    a person made, with the same id, is overwritten."""
    replay(
        world,
        "upsert",
        [
            ("person_creates", {"where": Target("crm_a", "contacts"), "same_key": False, "pick": 0}),
            ("push", {}),
            ("set_object", {"obj": "contacts"}),
            ("push", {}),
        ],
    )
