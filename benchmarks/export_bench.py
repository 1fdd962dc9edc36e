"""Export benchmark: rows per second and peak memory of the anonymized export.

    .venv/bin/python benchmarks/export_bench.py                       # 100,000 and 1,000,000
    .venv/bin/python benchmarks/export_bench.py --sizes 20000 --reload

Loads ``--base`` demo responses of the healthcare questionnaire through the real submit
path (``survey.demo.generate_responses`` + ``survey.core.responses.ingest.bulk_store``), then copies
them in SQL (new ids and client UUIDs, same answers and scores) up to each size. Every size
has its own PostgreSQL database ``<MANYI_BENCH_EXPORT_URL>_<size>`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/manyi_export_bench``), created when missing
and reused when it already holds that many responses (brought to the newest migration
first: a database loaded before 0005 gets its ``item_codes``/``dimension_scores``
back-filled by it). The SQL copies carry the stored export codes along with the answers.

Each export runs in a fresh subprocess so that ``ru_maxrss`` is that export's peak
resident memory (interpreter and app included); the time covers the whole export (plan
query, streamed CSV with scrubbed text, codebook).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pg import ensure_database  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/manyi_export_bench"


def load(url: str, size: int, base: int) -> None:
    """``size`` healthcare responses: ``base`` generated, the rest copied in SQL."""
    import numpy as np

    from survey import create_app
    from survey.core.db import get_session
    from survey.core.migrate import upgrade
    from survey.core.models import Response
    from survey.core.responses.ingest import SiteRef, bulk_store
    from survey.core.waves import recent_waves, wave_bounds
    from survey.demo.data import create_places, generate_responses

    upgrade(url)
    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp()})
    with app.app_context():
        session = get_session()
        if session.scalar(select(func.count()).select_from(Response)) == size:
            return
        rng = np.random.default_rng(1)
        sites = [SiteRef.of(s) for s in create_places(session, 3, rng)]
        qs = {"healthcare": app.extensions["manyi.questionnaires"]["healthcare"]}
        waves = recent_waves(wave_bounds("2026Q4")[0], 4)
        first = min(base, size)
        bulk_store(session, generate_responses(qs, sites, first, rng, waves))
        session.commit()
        top = session.scalar(select(func.max(Response.id)))
        copies = -(-size // first) - 1
        cols = [c.name for c in Response.__table__.columns if c.name not in ("id",
                                                                            "client_uuid")]
        for k in range(1, copies + 1):
            limit = min(first, size - k * first)
            if limit <= 0:
                break
            offset = k * top
            conn = session.connection()
            conn.execute(text(
                f"INSERT INTO response (id, client_uuid, {', '.join(cols)}) "
                f"SELECT id + {offset}, md5(client_uuid || '{k}')::uuid::text, "
                f"{', '.join(cols)} FROM response WHERE id <= {top} ORDER BY id "
                f"LIMIT {limit}"))
            conn.execute(text(
                "INSERT INTO answer (response_id, item, value_num, value_text, is_na) "
                f"SELECT response_id + {offset}, item, value_num, value_text, is_na "
                f"FROM answer WHERE response_id IN (SELECT id - {offset} FROM response "
                f"WHERE id > {offset} AND id <= {offset + top})"))
            conn.execute(text(
                "INSERT INTO score (response_id, dimension, value) "
                f"SELECT response_id + {offset}, dimension, value FROM score "
                f"WHERE response_id IN (SELECT id - {offset} FROM response "
                f"WHERE id > {offset} AND id <= {offset + top})"))
            session.commit()
            print(f"  loaded {min(size, (k + 1) * first):,} responses", flush=True)
        conn = session.connection()
        conn.execute(text("SELECT setval(pg_get_serial_sequence('response', 'id'), "
                          "(SELECT max(id) FROM response))"))
        session.commit()
        conn = session.connection()
        conn.execute(text("ANALYZE"))
        session.commit()


def run_one(url: str, trace: bool = False) -> dict[str, float]:
    """One export in this process: seconds, rows, peak RSS (MiB); with ``trace`` also the
    peak of Python allocations during the export (tracemalloc, which slows it down)."""
    import tracemalloc

    from survey import create_app
    from survey.core.db import engine_of, get_session
    from survey.export.service import ExportRequest, export_files

    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp()})
    out = Path(tempfile.mkdtemp()) / "bench.csv"
    with app.app_context():
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        result = export_files(engine_of(app), get_session(),
                              app.extensions["manyi.questionnaires"],
                              ExportRequest("healthcare"), out, actor="bench")
        seconds = time.perf_counter() - t0
        traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = out.stat().st_size
    for p in out.parent.iterdir():
        p.unlink()
    return {"rows": result.rows, "seconds": seconds, "rows_per_second": result.rows / seconds,
            "peak_rss_mib": peak, "rss_before_mib": rss_before, "csv_mib": size / 2**20,
            "traced_peak_mib": traced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--base", type=int, default=20000)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true",
                        help="also run each export under tracemalloc (peak Python heap)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.trace)))
        return
    base_url = os.environ.get("MANYI_BENCH_EXPORT_URL", DEFAULT_URL)
    for size in (int(s) for s in args.sizes.split(",")):
        url = make_url(base_url)
        url = url.set(database=f"{url.database}_{size}").render_as_string(hide_password=False)
        ensure_database(url, args.reload)
        t0 = time.perf_counter()
        load(url, size, args.base)
        print(f"{size:,} responses ready in {time.perf_counter() - t0:.0f} s", flush=True)
        done = subprocess.run([sys.executable, __file__, "--one", url], check=True,
                              capture_output=True, text=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{r['rows']:>10,} rows  {r['seconds']:7.1f} s  {r['rows_per_second']:>9,.0f} rows/s"
              f"  peak RSS {r['peak_rss_mib']:6.0f} MiB (after start-up {r['rss_before_mib']:.0f})"
              f"  CSV {r['csv_mib']:.0f} MiB", flush=True)
        if args.trace:
            done = subprocess.run([sys.executable, __file__, "--one", url, "--trace"],
                                  check=True, capture_output=True, text=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{'':>10}  under tracemalloc: peak Python heap during the export "
                  f"{r['traced_peak_mib']:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
