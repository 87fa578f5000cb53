"""Statements run straight on the DB-API connection, for reads on the hot paths.

SQLAlchemy's execution layer costs 100-300 µs per statement on a small machine: more
than SQLite needs to find a token or a page of a hundred conversations. A request that
authenticates and then reads would spend most of its time there. So the few reads that
every API request makes are :class:`Query` objects: a Core statement built from the
tables of :mod:`parley.store.tables` (still the one definition of the schema), compiled
once per dialect to the driver's SQL, and run by :class:`Direct` on a DB-API cursor.

Invariants:

* a :class:`Direct` never begins, commits or ends a transaction it did not open: wrapped
  around a Session (:func:`of`) it runs inside the session's transaction;
* rows come back as the driver returns them (tuples; SQLite gives 0/1 for booleans and
  ``str`` for text), so callers convert what they expose;
* parameters are passed by name and bound in the order the compiled SQL wants them;
* the driver's errors surface as SQLAlchemy's (``sqlalchemy.exc.IntegrityError`` ...).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

T = TypeVar("T")


class Query:
    """A Core statement, compiled on first use for each dialect it runs on.

    ``statement`` may also be a function of the dialect's name, for the rare statement
    that is best written differently per database.
    """

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        self.statement = statement
        self._compiled: dict[str, Compiled] = {}
        self._lock = threading.Lock()

    @property
    def statement_text(self) -> str:
        """The SQL last compiled (for error messages)."""
        return next((c.sql for c in self._compiled.values()), "")

    def for_dialect(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                statement = self.statement
                if callable(statement) and not isinstance(statement, ClauseElement):
                    statement = statement(dialect.name)
                compiled = statement.compile(dialect=dialect)
                order = getattr(compiled, "positiontup", None)
                found = Compiled(
                    str(compiled),
                    tuple(order) if order is not None else None,
                    {k: v for k, v in compiled.params.items() if v is not None},
                )
                self._compiled[dialect.name] = found
        return found


class Compiled(NamedTuple):
    sql: str
    order: tuple[str, ...] | None  # parameter names in order, for positional paramstyles
    defaults: dict[str, Any]  # values the statement itself holds (literals, limits)


class Direct:
    """A DB-API connection and its dialect: runs :class:`Query` objects and plain SQL."""

    __slots__ = ("connection", "dialect", "observe")

    def __init__(
        self, connection: Any, dialect: Dialect, observe: Callable[[str], None] | None = None
    ) -> None:
        self.connection = connection
        self.dialect = dialect
        self.observe = observe  # sees each statement's SQL (SQLAlchemy's events do not)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect.name == "sqlite"

    @property
    def marker(self) -> str:
        """The driver's positional placeholder, for SQL written by hand."""
        return "?" if self.dialect.paramstyle == "qmark" else "%s"

    def _execute(self, query: Query, params: Mapping[str, Any]) -> Any:
        sql, order, defaults = query.for_dialect(self.dialect)
        if defaults:
            params = {**defaults, **params}
        if self.observe is not None:
            self.observe(sql)
        bound = dict(params) if order is None else tuple(params[name] for name in order)
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, bound)
        except self._errors as error:
            raise self._translated(sql, bound, error) from error
        return cursor

    def _translated(self, sql: str, params: Any, error: Exception) -> Exception:
        """The driver's error as SQLAlchemy's (IntegrityError, OperationalError ...), so
        callers catch one family whichever way a statement ran. (Spelled out at each
        call, ``except self._errors``, rather than as a context manager: these run a few
        times per request.)"""
        return DBAPIError.instance(sql, params, error, self.dialect.loaded_dbapi.Error)

    @property
    def _errors(self) -> type[Exception]:
        errors: type[Exception] = self.dialect.loaded_dbapi.Error
        return errors

    def all(self, query: Query, **params: Any) -> list[tuple[Any, ...]]:
        cursor = self._execute(query, params)
        try:
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        except self._errors as error:
            raise self._translated(query.statement_text, params, error) from error
        finally:
            cursor.close()
        return rows

    def first(self, query: Query, **params: Any) -> tuple[Any, ...] | None:
        cursor = self._execute(query, params)
        try:
            row = cursor.fetchone()
        except self._errors as error:
            raise self._translated(query.statement_text, params, error) from error
        finally:
            cursor.close()
        return tuple(row) if row is not None else None

    def scalar(self, query: Query, **params: Any) -> Any:
        row = self.first(query, **params)
        return row[0] if row is not None else None

    def execute(self, query: Query, **params: Any) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        cursor = self._execute(query, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def sql(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows of hand-written SQL (placeholders: :attr:`marker`, or the driver's named
        ones with a mapping)."""
        if self.observe is not None:
            self.observe(sql)
        bound = dict(params) if isinstance(params, Mapping) else tuple(params)
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, bound)
            return list(cursor.fetchall()) if cursor.description else []
        except self._errors as error:
            raise self._translated(sql, bound, error) from error
        finally:
            cursor.close()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Hand-written SQL once per row of ``rows`` (the driver's executemany)."""
        if self.observe is not None:
            self.observe(sql)
        cursor = self.connection.cursor()
        try:
            cursor.executemany(sql, rows)
        except self._errors as error:
            raise self._translated(sql, rows[:1], error) from error
        finally:
            cursor.close()


Db = Session | Direct


def of(db: Db) -> Direct:
    """``db`` itself, or a Direct on a Session's connection (inside its transaction)."""
    if isinstance(db, Direct):
        return db
    connection = db.connection()
    return Direct(connection.connection.driver_connection, connection.dialect)


class Reader:
    """Runs read-only work for one engine, on a connection kept for the calling thread.

    On SQLite the work is cheap and bounded, so the web layer runs it where it is called,
    event loop included (:attr:`inline`): a reader in WAL mode never waits for a writer,
    and running it in a worker thread would cost more than the read (each row a GIL
    hand-over). Connections there are ``query_only``. On PostgreSQL every call checks a
    connection out of the engine's pool; callers run it in a worker thread.

    Each :meth:`run` is one read transaction: a consistent snapshot for all its
    statements, rolled back at the end.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._local = threading.local()
        self._kept: list[Any] = []
        self._lock = threading.Lock()
        self.observe: Callable[[str], None] | None = None  # passed to each Direct

    def _thread_connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            pooled = self.engine.raw_connection()  # with the engine's connect settings
            connection = pooled.driver_connection
            assert connection is not None
            pooled.detach()  # ours alone now: a query_only connection never goes back
            connection.execute("PRAGMA query_only=ON")
            self._local.connection = connection
            with self._lock:
                self._kept.append(connection)
        return connection

    def run(self, work: Callable[..., T], /, *args: Any) -> T:
        """``work(db, *args)`` with a Direct inside a read transaction, for the calling
        thread. (No context manager: this runs for every read of a request.)"""
        if self.inline:
            raw = self._thread_connection()
            raw.execute("BEGIN")
            try:
                return work(Direct(raw, self.engine.dialect, self.observe), *args)
            finally:
                raw.execute("ROLLBACK")
        pooled = self.engine.raw_connection()
        try:
            return work(Direct(pooled.driver_connection, self.engine.dialect, self.observe), *args)
        finally:
            pooled.rollback()
            pooled.close()

    def run_single(self, work: Callable[..., T], /, *args: Any) -> T:
        """:meth:`run` for work of one statement, which is its own snapshot: on SQLite it
        skips the BEGIN and ROLLBACK around it."""
        if not self.inline:
            return self.run(work, *args)
        return work(Direct(self._thread_connection(), self.engine.dialect, self.observe), *args)

    def close(self) -> None:
        """Close the connections kept for threads (at shutdown)."""
        with self._lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            connection.close()
