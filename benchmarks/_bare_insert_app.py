"""The baseline of ``benchmarks/submit_load.py``: a Flask app whose one endpoint INSERTs
one row into a scratch table and commits — what any web submission costs at the least on
this stack (gunicorn, Flask, SQLAlchemy Core, psycopg, PostgreSQL) before manyi's own work.

    MANYI_DATABASE_URL=postgresql+psycopg://... gunicorn --pythonpath benchmarks \\
        '_bare_insert_app:create_app()'

``POST /insert`` with a JSON object holding ``client_uuid``: 201 ``{"id", "client_uuid"}``;
422 when the body is not such an object; 503 when the database fails (as manyi answers).
The engine comes from :func:`survey.core.db.make_engine` with manyi's default timeouts, so
the connection pool, ``pool_pre_ping``, ``lock_timeout`` and ``statement_timeout`` are the
same as the app's. The scratch table (:data:`TABLE`) is created by the benchmark.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Text, func
from sqlalchemy.exc import OperationalError

from survey.config import Config
from survey.core.db import make_engine

metadata = MetaData()
TABLE = Table(
    "bench_bare_insert", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("client_uuid", String(36), nullable=False),
    Column("body", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def create_app() -> Flask:
    url = os.environ["MANYI_DATABASE_URL"]
    defaults = Config(DATABASE_URL=url)
    engine = make_engine(url, timeout=defaults.DATABASE_TIMEOUT_SECONDS,
                         statement_timeout=defaults.DATABASE_STATEMENT_TIMEOUT_SECONDS)
    app = Flask(__name__)
    insert = TABLE.insert().returning(TABLE.c.id)

    @app.post("/insert")
    def insert_one() -> ResponseReturnValue:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("client_uuid"), str):
            return jsonify({"error": "invalid", "errors": {
                "body": "a JSON object with a client_uuid string"}}), 422
        with engine.begin() as conn:
            new_id = conn.execute(insert, {"client_uuid": body["client_uuid"],
                                           "body": request.get_data(as_text=True)}).scalar_one()
        return jsonify({"id": new_id, "client_uuid": body["client_uuid"]}), 201

    @app.errorhandler(OperationalError)
    def _unavailable(_exc: Exception) -> ResponseReturnValue:
        return jsonify({"error": "database unavailable, nothing was stored; retry later"}), 503

    return app
