"""The one place that talks to the warehouse: through the project's own profile and dbt adapter.

Every statement is rendered from a macro of the ``dbt_revsync`` package (``macros/``,
``adapter.dispatch``'ed), so a warehouse can override any of them. When the project has
not installed the package, the copy shipped with dbt-revsync is loaded beside it. Rows
leave the warehouse a page at a time: only the changes table is read, by sequence range.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
from argparse import Namespace
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_revsync.errors import ConfigError, ConfigIssue, WarehouseError
from dbt_revsync.model import NodeRef, Settings, SyncSpec

__all__ = [
    "MACRO_BLOCKS",
    "PACKAGE_NAME",
    "Statement",
    "Warehouse",
    "first_line",
    "is_out_of_memory",
    "package_root",
    "refused",
]

logger = logging.getLogger(__name__)

PACKAGE_NAME = "dbt_revsync"
Statement = str | tuple[str, Sequence[Any]]  # SQL text, or SQL and its bindings


def package_root() -> Path:
    """The dbt package holding ``macros/``: the wheel's copy, else the source tree's root."""
    here = Path(__file__).resolve().parent
    shipped = here / "_dbt_package"
    return shipped if (shipped / "dbt_project.yml").is_file() else here.parent


@dataclass
class _Bound:
    """One open memory bound: the settings it gave the engine, and the value each had before."""

    applied: dict[str, str] = field(default_factory=dict)
    replaced: dict[str, str] = field(default_factory=dict)


class Warehouse:
    """Opened once per command; every method runs on the calling (main) thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.adapter: Any = None
        self.config: Any = None
        self._connection: Any = None
        self._columns: dict[str, list[tuple[str, str]] | None] = {}
        self._macros: dict[str, Any] = {}
        self._resolver: Any = None  # the macros, as handed to the adapter
        self._context_generator: Any = None
        self.macros_from = ""  # "manifest" or "parsed": where the macros came from (see _load_macros)
        self._bounds: list[_Bound] = []  # the memory bounds open, outermost first
        self._lifted = False  # lifted until the outermost bound ends (``execute_relieved``)

    # ---- opening -----------------------------------------------------------------------
    def open(self) -> Warehouse:
        try:
            self._open()
        except ConfigError:
            _thaw()
            raise
        except Exception as exc:  # dbt raises many types; all mean "cannot use this profile"
            _thaw()
            raise refused("cannot open the warehouse through the dbt profile", exc) from None
        return self

    def _open(self) -> None:
        _pause_collections()
        from dbt.adapters.factory import get_adapter, register_adapter, reset_adapters
        from dbt.config.runtime import RuntimeConfig
        from dbt.context.providers import generate_runtime_macro_context
        from dbt.flags import set_from_args
        from dbt.mp_context import get_mp_context
        from dbt_common.context import set_invocation_context

        _quiet_dbt_events()
        set_invocation_context(os.environ)
        args = Namespace(
            project_dir=str(self.settings.project_dir),
            profiles_dir=str(self.settings.profiles_dir)
            if self.settings.profiles_dir
            else _default_profiles_dir(self.settings.project_dir),
            target=self.settings.target,
            vars=_parse_vars(self.settings.vars),
            profile=None,
            threads=self.settings.threads,
        )
        set_from_args(args, None)
        self.config = RuntimeConfig.from_args(args)
        dependencies = self.config.load_dependencies()
        shipped = PACKAGE_NAME not in dependencies
        if shipped:
            for name, project in self.config.load_projects([package_root()]):
                dependencies[name] = project
        self._macros = {}
        reset_adapters()  # a process may open several projects (tests, `run` after dbt)
        register_adapter(self.config, get_mp_context())
        self.adapter = get_adapter(self.config)
        self._resolver = self._load_macros(dependencies, shipped)
        self._context_generator = generate_runtime_macro_context
        self.adapter.set_macro_resolver(self._resolver)
        self.adapter.set_macro_context_generator(self._context_generator)
        _set_aside_startup_heap()
        self._connection = self.adapter.connection_named("dbt-revsync")
        self._connection.__enter__()

    def _load_macros(self, projects: Mapping[str, Any], shipped: bool) -> Any:
        """Every macro of the project and its packages, for the adapter to resolve.

        dbt parses each macro file with Jinja (about 650 macros: most of a second). The
        project's ``target/manifest.json`` holds them parsed already: they are taken from it
        when it was written by this dbt version for this adapter and every macro file still
        holds exactly the blocks the manifest recorded for it (found with dbt's block scanner,
        no Jinja parse). Otherwise dbt parses them all, as it always did. The package's own
        copy, loaded beside a project that has not installed it, is parsed (a few files).
        """
        installed = [project for name, project in projects.items() if not (shipped and name == PACKAGE_NAME)]
        recorded = _recorded_macros(self.target_dir / "manifest.json", installed, self.adapter.type())
        if recorded is None:
            from dbt.parser.manifest import ManifestLoader

            self.macros_from = "parsed"
            return ManifestLoader.load_macros(
                self.config, self.adapter.connections.set_query_header, base_macros_only=False
            )
        from dbt.contracts.graph.manifest import MacroManifest

        if shipped:
            recorded.update(_parse_macros(projects[PACKAGE_NAME]))
        self.macros_from = "manifest"
        return MacroManifest(recorded)

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.__exit__(None, None, None)
            finally:
                from dbt.adapters.factory import reset_adapters

                self._connection = None
                self.adapter.cleanup_connections()
                _release_shared_handles(self.adapter)
                reset_adapters()
                _thaw()

    def __enter__(self) -> Warehouse:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def target_dir(self) -> Path:
        return Path(self.config.project_root) / self.config.target_path

    # ---- low level ---------------------------------------------------------------------
    def render(self, name: str, **kwargs: Any) -> Any:
        """Render one of our SQL macros. Building dbt's macro context costs far more than
        the rendering, so each macro's callable is made once per opened warehouse."""
        try:
            if name not in self._macros:
                self._macros[name] = self._callable_macro(name)
            return self._macros[name](**kwargs)
        except Exception as exc:
            raise refused(f"macro {name} failed", exc) from None

    def _callable_macro(self, name: str) -> Any:
        """What ``adapter.execute_macro`` builds on every call, built once."""
        from dbt_common.clients.jinja import CallableMacroGenerator

        resolver = self._resolver
        macro = resolver.find_macro_by_name(name, self.config.project_name, None)
        if macro is None:
            raise WarehouseError(f"dbt could not find a macro named {name}")
        context = self._context_generator(macro, self.config, resolver, None)
        return CallableMacroGenerator(macro, context)

    def execute(self, statements: Sequence[Statement] | str) -> None:
        """Run statements in one transaction where the warehouse has them (each on its own
        elsewhere); a statement is SQL text, or (SQL, bindings)."""
        statements = [statements] if isinstance(statements, str) else list(statements)
        try:
            for statement in statements:
                self._run(statement, auto_begin=True, fetch=False)
            self._commit()
        except Exception as exc:
            self._rollback()
            raise refused("the warehouse refused a statement", exc) from None

    def execute_relieved(self, statements: Sequence[Statement] | str, *, alone: bool = False) -> None:
        """``execute`` (``execute_alone`` for one statement that commits on its own), for a
        write that must not fail for want of memory (a batch's state commit, once the CRM has
        acknowledged it): should the engine run out of memory under a sync's bound, the bound
        is lifted for the rest of the sync and the write runs again."""
        statements = [statements] if isinstance(statements, str) else list(statements)

        def write() -> None:
            if alone:
                self.execute_alone(statements[0])
            else:
                self.execute(statements)

        try:
            write()
        except WarehouseError as exc:
            if not is_out_of_memory(exc) or not self._lift_bound():
                raise
            logger.info("the warehouse ran out of memory under the sync's bound: the bound is lifted")
            write()

    def _lift_bound(self) -> bool:
        """Put back every setting the open memory bounds changed; whether one was open."""
        if not self._bounds or self._lifted:
            return False
        originals: dict[str, str] = {}
        for bound in self._bounds:
            for name, value in bound.replaced.items():
                originals.setdefault(name, value)
        for name, value in originals.items():
            self._set(name, value)
        self._lifted = True
        return True

    def execute_alone(self, statement: Statement) -> None:
        """One statement outside a transaction, where the warehouse commits it on its own."""
        try:
            self._run(statement, auto_begin=False, fetch=False)
        except Exception as exc:
            raise refused("the warehouse refused a statement", exc) from None

    def query(self, sql: Statement) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A query's column names, lower-cased (Snowflake answers unquoted names in upper
        case), and its rows; ``sql`` is SQL text, or (SQL, bindings). Every result the package
        reads by name comes through here."""
        names, rows = self._query(sql)
        return [name.lower() for name in names], rows

    def result_names(self, sql: str) -> list[str]:
        """A query's column names as the warehouse spells them: for quoting them back into SQL."""
        return self._query(sql)[0]

    def _query(self, sql: Statement) -> tuple[list[str], list[tuple[Any, ...]]]:
        try:
            names, rows = self._run(sql if isinstance(sql, tuple) else str(sql), auto_begin=True, fetch=True)
            self._commit()
        except Exception as exc:
            self._rollback()
            raise refused("the warehouse refused a query", exc) from None
        return names, rows

    def _run(self, statement: Statement, auto_begin: bool, fetch: bool) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one statement by the path the adapter offers (see ``statement_path``)."""
        sql, bindings = statement if isinstance(statement, tuple) else (statement, None)
        connections = self.adapter.connections
        if statement_path(self.adapter) == "cursor":
            if bindings is None:
                _, cursor = connections.add_query(str(sql), auto_begin=auto_begin)
            else:
                cursor = self._bound(connections, str(sql), bindings, auto_begin)
            if not fetch:
                return [], []
            rows = cursor.fetchall()
            return [str(d[0]) for d in cursor.description or ()], [tuple(row) for row in rows]
        if bindings:
            sql = inline_bindings(str(sql), [self._literal(value) for value in bindings])
        _, table = connections.execute(str(sql), auto_begin=False, fetch=fetch)
        if not fetch:
            return [], []
        return [str(name) for name in table.column_names], [tuple(row.values()) for row in table.rows]

    @staticmethod
    def _bound(connections: Any, sql: str, bindings: Sequence[Any], auto_begin: bool) -> Any:
        """A prepared statement and its bindings on the adapter's own cursor, in its connection
        and transaction (begun through the adapter as ``add_query`` would), its errors mapped by
        the adapter's handler: the per-batch state commit, without ``add_query``'s events for
        each statement (SQL logged, status timed), which cost more than DuckDB's insert."""
        connection = connections.get_thread_connection()
        if auto_begin and connection.transaction_open is False:
            connections.begin()
        with connections.exception_handler(sql):
            cursor = connection.handle.cursor()
            cursor.execute(sql, bindings)
        return cursor

    def _literal(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, type(None))):
            raise WarehouseError(
                f"the {self.adapter.type()} adapter binds no parameters, and a {type(value).__name__} has no literal"
            )
        return str(value) if isinstance(value, int) else str(self.render("revsync_literal", value=value))

    def _commit(self) -> None:
        if statement_path(self.adapter) == "cursor":
            self.adapter.connections.commit_if_has_connection()

    @contextmanager
    def bounded_memory(self, limit: str, *, parallel: bool = False) -> Iterator[bool]:
        """Run the block with the engine's memory bounded to ``limit`` where the engine runs in
        this process (``revsync_memory_settings``: for DuckDB the limit and one thread, two with
        ``parallel``) and the profile sets no memory limit of its own. A setting the profile
        sets is left alone, one already in effect is not set again, and every setting changed
        is put back afterwards. Yields whether a bound holds."""
        wanted = self.render("revsync_memory_settings", limit=limit, parallel=parallel)
        profile = getattr(self.config.credentials, "settings", None) or {}
        if not wanted or "memory_limit" in profile or self._lifted:  # lifted: until the outermost ends
            yield False
            return
        bound = _Bound()
        self._bounds.append(bound)
        try:
            for name, wanted_value in wanted.items():
                value = str(wanted_value)
                if name in profile or value == self._in_effect(name):
                    continue
                now = self.select(self.render("revsync_setting_sql", setting=name, value=None)["now"])
                if now and now[0]["value"] is not None:
                    bound.replaced[name] = str(now[0]["value"])
                self._set(name, value)
                bound.applied[name] = value
            yield True
        finally:
            self._bounds.pop()
            for name, value in [] if self._lifted else reversed(bound.replaced.items()):
                self._set(name, value)
            self._lifted = self._lifted and bool(self._bounds)

    def _in_effect(self, name: str) -> str | None:
        """The value an open bound gave the setting, the innermost first; None if none did."""
        return next((bound.applied[name] for bound in reversed(self._bounds) if name in bound.applied), None)

    def _set(self, name: str, value: str) -> None:
        self.execute_alone(str(self.render("revsync_setting_sql", setting=name, value=value)["set"]))

    def _rollback(self) -> None:
        try:
            self.adapter.connections.rollback_if_open()
        except Exception:  # the original error is what the user needs to see
            logger.debug("rollback failed", exc_info=True)

    # ---- relations and columns -------------------------------------------------------
    def relation(self, node: NodeRef) -> Any:
        return self.adapter.Relation.create(database=node.database, schema=node.schema, identifier=node.identifier)

    @property
    def state_schema(self) -> Any:
        return self.adapter.Relation.create(
            database=self.config.credentials.database, schema=self.settings.state_schema
        ).without_identifier()

    def state_table(self, name: str) -> Any:
        return self.adapter.Relation.create(
            database=self.config.credentials.database, schema=self.settings.state_schema, identifier=name
        )

    def columns(self, node: NodeRef) -> list[tuple[str, str]] | None:
        """(name, type) of a node's relation, or None when it does not exist."""
        if node.unique_id not in self._columns:
            try:
                found = self.adapter.get_columns_in_relation(self.relation(node))
            except Exception as exc:
                raise refused(f"cannot read the columns of {self.relation(node)}", exc) from None
            self._columns[node.unique_id] = [(c.name, c.dtype) for c in found] or None
        return self._columns[node.unique_id]

    def quoted(self, spec: SyncSpec, column: str) -> str:
        actual = {name.lower(): name for name, _ in self.columns(spec.node) or ()}
        return self.adapter.quote(actual.get(column.lower(), column))

    def column_type(self, spec: SyncSpec, column: str) -> str:
        return next((dtype for name, dtype in self.columns(spec.node) or () if name.lower() == column.lower()), "")

    def table_columns(self, relation: Any) -> list[tuple[str, str]]:
        """(name, type) of any relation; empty when it does not exist."""
        try:
            return [(c.name, c.dtype) for c in self.adapter.get_columns_in_relation(relation)]
        except Exception as exc:
            raise refused(f"cannot read the columns of {relation}", exc) from None

    def has_table(self, name: str) -> bool:
        """Whether the state schema holds a table ``name`` (a project that never pushed has none)."""
        try:
            found = self.adapter.get_relation(self.config.credentials.database, self.settings.state_schema, name)
        except Exception as exc:
            raise refused("cannot look for the state tables", exc) from None
        return found is not None

    def select(self, sql: str) -> list[dict[str, Any]]:
        """Rows as mappings keyed by lower-case column name (see ``query``)."""
        names, rows = self.query(sql)
        return [dict(zip(names, row)) for row in rows]


def statement_path(adapter: Any) -> str:
    """How statements reach this adapter: ``cursor`` where its connection manager is dbt's SQL
    one (``add_query`` returns a DB-API cursor, bindings travel as parameters, statements run
    in a transaction where the warehouse has them), else ``execute``: dbt-bigquery's manager
    has no ``add_query``; each statement is one ``connections.execute`` (one BigQuery job,
    billed 10 MB at least), its rows read from the table dbt returns, bindings written as
    literals. Chosen here only; nothing else in the package knows the difference."""
    from dbt.adapters.sql.connections import SQLConnectionManager

    return "cursor" if isinstance(adapter.connections, SQLConnectionManager) else "execute"


def inline_bindings(sql: str, literals: Sequence[str]) -> str:
    """``sql`` with each parameter marker (``%s`` or ``?``, outside quoted text) replaced by
    the next literal; the number of markers must be the number of literals."""
    out: list[str] = []
    values = iter(literals)
    used, i, quote = 0, 0, ""
    while i < len(sql):
        ch = sql[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(sql):
                out.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
            out.append(ch)
        elif ch == "?" or sql.startswith("%s", i):
            literal = next(values, None)
            if literal is None:
                raise WarehouseError("a statement has more parameter markers than values")
            out.append(literal)
            used += 1
            i += 1 if ch == "?" else 2
            continue
        else:
            out.append(ch)
        i += 1
    if used != len(literals):
        raise WarehouseError("a statement has fewer parameter markers than values")
    return "".join(out)


MACRO_BLOCKS = {"macro", "materialization", "test", "data_test"}  # the blocks dbt's MacroParser reads


def _recorded_macros(manifest_path: Path, projects: Sequence[Any], adapter_type: str) -> dict[str, Any] | None:
    """unique_id -> dbt Macro, from the manifest, of every macro file of ``projects``; None
    when the manifest is missing, from another dbt version or adapter, or any file's blocks
    differ from what it recorded (a file edited, added or removed since dbt last parsed)."""
    from dbt.contracts.graph.nodes import Macro
    from dbt.parser.search import filesystem_search
    from dbt.version import __version__ as dbt_version
    from dbt_common.clients.jinja import BlockTag, extract_toplevel_blocks
    from dbt_common.clients.system import load_file_contents

    try:
        document = json.loads(manifest_path.read_bytes())
        metadata, entries = document["metadata"], document["macros"]
        if metadata.get("dbt_version") != dbt_version or metadata.get("adapter_type") != adapter_type:
            logger.debug(
                "%s: written by dbt %s for %s; parsing the macros",
                manifest_path,
                metadata.get("dbt_version"),
                metadata.get("adapter_type"),
            )
            return None
        by_file: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for entry in entries.values():
            by_file.setdefault((entry["package_name"], entry["original_file_path"]), []).append(entry)
        macros: dict[str, Any] = {}
        for project in projects:
            for path in filesystem_search(project, project.macro_paths, ".sql"):
                recorded = by_file.get((project.project_name, path.original_file_path), [])
                text = load_file_contents(path.absolute_path, strip=True)
                blocks = [
                    b.full_block
                    for b in extract_toplevel_blocks(text, allowed_blocks=MACRO_BLOCKS, collect_raw_data=False)
                    if isinstance(b, BlockTag)
                ]
                if sorted(str(b) for b in blocks) != sorted(str(e["macro_sql"]) for e in recorded):
                    logger.debug(
                        "%s changed since %s was written; parsing the macros", path.absolute_path, manifest_path
                    )
                    return None
                for entry in recorded:
                    macros[entry["unique_id"]] = Macro.from_dict(entry)
    except FileNotFoundError:
        return None
    except Exception as exc:  # an unreadable or unexpected manifest: dbt's own parse decides
        logger.debug("cannot take the macros from %s: %s", manifest_path, first_line(exc))
        return None
    return macros


def _parse_macros(project: Any) -> dict[str, Any]:
    """unique_id -> dbt Macro of one project's macro files, parsed as dbt's MacroParser does."""
    from dbt.contracts.files import ParseFileType
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.macros import MacroParser
    from dbt.parser.read_files import load_source_file
    from dbt.parser.search import FileBlock

    manifest = Manifest()
    parser = MacroParser(project, manifest)
    for path in parser.get_paths():
        source = load_source_file(path, ParseFileType.Macro, project.project_name, {})
        if source is not None:
            parser.parse_file(FileBlock(source))
    return dict(manifest.macros)


def _parse_vars(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    from ruamel.yaml import YAML

    try:
        value = YAML(typ="safe").load(text)
    except Exception as exc:
        raise ConfigError(ConfigIssue(f"--vars is not a YAML mapping: {first_line(exc)}", key="--vars")) from None
    if not isinstance(value, dict):
        raise ConfigError(ConfigIssue("--vars must be a YAML mapping", key="--vars"))
    return value


def _default_profiles_dir(project_dir: Path) -> str:
    if os.environ.get("DBT_PROFILES_DIR"):
        return os.environ["DBT_PROFILES_DIR"]
    if (project_dir / "profiles.yml").is_file():
        return str(project_dir)
    return str(Path.home() / ".dbt")


def _release_shared_handles(adapter: Any) -> None:
    """Adapters that share one database handle per process (dbt-duckdb) let it go here, so
    the file is free for the next dbt invocation of a long-lived process."""
    close_all = getattr(type(adapter.connections), "close_all_connections", None)
    if callable(close_all):
        close_all()
        gc.collect()


_collections_paused = False


def _pause_collections() -> None:
    """Importing dbt and loading the project make a large heap of long-lived objects and
    little garbage; Python's collector would walk that heap again and again as it grows."""
    global _collections_paused
    if gc.isenabled():
        gc.disable()
        _collections_paused = True


def _set_aside_startup_heap() -> None:
    """Collections resume, but skip what start-up made (modules, macros, config) until
    ``close``: the diff's pages and the connection's release do not walk it again. A
    warehouse never closed is put back at exit, for the interpreter's last collection."""
    atexit.unregister(gc.unfreeze)  # registered once however many warehouses open
    atexit.register(gc.unfreeze)
    gc.freeze()
    _resume_collections()


def _thaw() -> None:
    """Back to Python's usual collections: what start-up made is walked again."""
    _resume_collections()
    gc.unfreeze()


def _resume_collections() -> None:
    global _collections_paused
    if _collections_paused:
        gc.enable()
        _collections_paused = False


def _quiet_dbt_events() -> None:
    """dbt logs to stdout by default; dbt-revsync owns stdout, so keep dbt's events quiet."""
    try:
        from dbt_common.events.event_manager_client import cleanup_event_logger

        cleanup_event_logger()
    except ImportError:  # older dbt-common
        logger.debug("cannot silence dbt events")


def refused(what: str, exc: BaseException) -> WarehouseError:
    """The error for a warehouse call that failed; a DuckDB file another process holds (one
    writer at a time) is said in plain words."""
    if "could not set lock" in str(exc).lower():
        return WarehouseError(
            "the DuckDB file is in use by another process (another dbt-revsync push, or dbt): one push at a time, "
            f"nothing sent ({first_line(exc)})"
        )
    return WarehouseError(f"{what}: {first_line(exc)}")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether the engine refused for want of memory (DuckDB's out-of-memory error)."""
    return "out of memory" in str(exc).lower()


def first_line(exc: BaseException) -> str:
    """dbt's messages span lines ("Runtime Error\n  Compilation Error\n  ..."): one line, bounded."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    return text[:1000]
