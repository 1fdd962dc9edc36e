"""Engine and session handling, and a clear one-line error for a bad database URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, g
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0
"""Lock and connect timeout of :func:`make_engine` (the web app uses
``Config.DATABASE_TIMEOUT_SECONDS``)."""


class DatabaseConfigError(RuntimeError):
    """The configured database URL cannot be used; the message is one line for a human."""


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def make_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                statement_timeout: float = 0) -> Engine:
    """Create an engine for ``url`` or raise :class:`DatabaseConfigError` saying why.

    SQLite files get their parent directory created, foreign keys enforced, WAL
    journalling (many readers, one writer) and ``synchronous=FULL`` (an acknowledged
    commit survives a power loss). ``timeout`` bounds how long a statement waits for a
    lock (SQLite busy timeout; PostgreSQL ``lock_timeout``) and, on PostgreSQL, for a
    connection (``connect_timeout``); ``statement_timeout`` (seconds, 0 = none) bounds
    any single PostgreSQL statement. Lost PostgreSQL connections are replaced
    (``pool_pre_ping``). A timeout raises ``sqlalchemy.exc.OperationalError``, which the
    web app answers with a 503 (:mod:`survey.core.web`).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseConfigError(
            f"MANYI_DATABASE_URL is not a database URL: {_redact(url)!s} "
            "(expected e.g. sqlite:///instance/manyi.sqlite3 or "
            "postgresql+psycopg://user@host/dbname)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseConfigError(
            f"MANYI_DATABASE_URL uses unsupported database '{backend}' "
            "(supported: sqlite, postgresql+psycopg)"
        )
    kwargs: dict[str, object] = {"hide_parameters": True}  # no SQL values in logs or errors
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": timeout}
    else:
        kwargs["pool_pre_ping"] = True
        options = f"-c lock_timeout={round(timeout * 1000)}"
        if statement_timeout > 0:
            options += f" -c statement_timeout={round(statement_timeout * 1000)}"
        kwargs["connect_args"] = {"connect_timeout": max(1, round(timeout)),
                                  "options": options}
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise DatabaseConfigError(
            f"MANYI_DATABASE_URL names an unknown driver '{parsed.drivername}' "
            "(use postgresql+psycopg or sqlite)"
        ) from None
    except ImportError as exc:
        raise DatabaseConfigError(
            f"the driver for {parsed.drivername} is not installed ({exc.name})"
        ) from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


@contextmanager
def short_transaction(engine: Engine, lock_timeout_ms: int) -> Iterator[Connection]:
    """A connection of its own (not the request's session) in a transaction that commits
    when the block ends, whose statements wait at most ``lock_timeout_ms`` for a lock:
    for bookkeeping writes (read audits, session touches) that must never hold up or fail
    the page they belong to. A lock timeout raises ``OperationalError``."""
    ms = int(lock_timeout_ms)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
            try:
                yield conn
                conn.commit()
            finally:
                conn.rollback()
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous or 0)}")
        else:
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
            yield conn
            conn.commit()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"],
                         timeout=app.config["DATABASE_TIMEOUT_SECONDS"],
                         statement_timeout=app.config["DATABASE_STATEMENT_TIMEOUT_SECONDS"])
    app.extensions["manyi.engine"] = engine
    app.extensions["manyi.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            try:
                session.close()
            except SQLAlchemyError as exc:
                # The connection died under the request (a PostgreSQL restart): closing
                # rolls back on it and fails; the pool discards it. Never a 500 for that.
                logger.warning("closing a database session failed: %s", type(exc).__name__)


def engine_of(app: Flask) -> Engine:
    return app.extensions["manyi.engine"]


def get_session() -> Session:
    """The request's (or app context's) session, opened on first use."""
    from flask import current_app

    if "db_session" not in g:
        g.db_session = current_app.extensions["manyi.sessionmaker"]()
    return g.db_session
