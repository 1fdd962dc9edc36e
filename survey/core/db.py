"""Engine and session handling, and a clear one-line error for a bad database URL."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry


class DatabaseConfigError(RuntimeError):
    """The configured database URL cannot be used; the message is one line for a human."""


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` or raise :class:`DatabaseConfigError` saying why.

    SQLite files get their parent directory created, foreign keys enforced and WAL
    journalling (many readers, one writer).
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
    kwargs: dict[str, object] = {}
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
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
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["manyi.engine"] = engine
    app.extensions["manyi.sessionmaker"] = sessionmaker(engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def engine_of(app: Flask) -> Engine:
    return app.extensions["manyi.engine"]


def get_session() -> Session:
    """The request's (or app context's) session, opened on first use."""
    from flask import current_app

    if "db_session" not in g:
        g.db_session = current_app.extensions["manyi.sessionmaker"]()
    return g.db_session
