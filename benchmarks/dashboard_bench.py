"""Dashboard benchmark: load N responses into PostgreSQL, time the city overview.

    .venv/bin/python benchmarks/dashboard_bench.py                 # 1,000,000 responses
    .venv/bin/python benchmarks/dashboard_bench.py --responses 20000 --reload

Loads through the demo generator's bulk path (``survey.demo.generate_responses`` +
``survey.core.responses.ingest.bulk_store``, in chunks so memory stays flat), prints the load rate,
then times ``GET /dashboard/<city>`` through the Flask test client, logged in as that
city's official: one cold request, then ``--runs`` warm requests; prints p50/p95/max of
the server time. ``--detail`` adds the questionnaire page, the complaints queue, the
all-cities page, the evaluation ranking and card (as an admin), and the public pages (after
releasing the city's newest wave once). The database (``MANYI_BENCH_DATABASE_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/manyi_bench``) is created when missing and
reused when it already holds the requested number of responses (``--reload`` forces a
fresh load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _pg import ensure_database  # noqa: E402

from survey import create_app  # noqa: E402
from survey.accounts.users import create_user  # noqa: E402
from survey.core.db import get_session  # noqa: E402
from survey.core.migrate import upgrade  # noqa: E402
from survey.core.models import City, Response  # noqa: E402
from survey.core.responses.ingest import SiteRef, bulk_store  # noqa: E402
from survey.core.waves import recent_waves, wave_bounds  # noqa: E402
from survey.demo.data import create_places, generate_responses  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/manyi_bench"
PASSWORD = "bench-password-123"


def load(app, responses: int, cities: int, chunk: int, seed: int, end_wave: str) -> None:  # type: ignore[no-untyped-def]
    qs = app.extensions["manyi.questionnaires"]
    with app.app_context():
        session = get_session()
        rng = np.random.default_rng(seed)
        refs = [SiteRef.of(s) for s in create_places(session, cities, rng)]
        session.commit()
        waves = recent_waves(wave_bounds(end_wave)[0], 4)
        done, t_gen, t_store = 0, 0.0, 0.0
        while done < responses:
            size = min(chunk, responses - done)
            t0 = time.perf_counter()
            prepared = generate_responses(qs, refs, size, np.random.default_rng([seed, done]),
                                          waves)
            t1 = time.perf_counter()
            bulk_store(session, prepared)
            session.commit()
            t2 = time.perf_counter()
            t_gen += t1 - t0
            t_store += t2 - t1
            done += size
            print(f"  {done:>9,} responses: generate {size / (t1 - t0):,.0f}/s, "
                  f"store {size / (t2 - t1):,.0f}/s", flush=True)
        print(f"load: {done:,} responses; generate+prepare {t_gen:.0f} s "
              f"({done / t_gen:,.0f}/s), bulk_store {t_store:.0f} s ({done / t_store:,.0f}/s), "
              f"overall {done / (t_gen + t_store):,.0f}/s")
    engine = create_engine(app.config["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_page(client, path: str, runs: int) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    response = client.get(path)
    cold = time.perf_counter() - t0
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - t0)
        assert response.status_code == 200
    return cold, times


def vacuum_analyze(url: str) -> None:
    """Statistics and visibility map up to date (as autovacuum would leave them), so the
    covering index answers from the index alone and runs are comparable."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE response"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--cities", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--end-wave", default="2026Q4")
    parser.add_argument("--reload", action="store_true", help="drop and reload the database")
    parser.add_argument("--detail", action="store_true",
                        help="also time the questionnaire page and the all-cities page")
    args = parser.parse_args()
    url = os.environ.get("MANYI_BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url, args.reload)
    upgrade(url)
    instance = tempfile.mkdtemp(prefix="manyi-bench-")
    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": instance, "SECRET_KEY": "bench",
                      "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        have = get_session().scalar(select(func.count()).select_from(Response))
    if have == 0:
        load(app, args.responses, args.cities, args.chunk, args.seed, args.end_wave)
    elif have != args.responses:
        raise SystemExit(f"{url} holds {have:,} responses, not {args.responses:,}: "
                         "use --reload")
    else:
        print(f"reusing {have:,} responses in {make_url(url).database}")
    vacuum_analyze(url)
    with app.app_context():
        session = get_session()
        city = session.scalars(select(City).order_by(City.id)).first()
        assert city is not None
        email = f"bench.{city.code}@manyi.bench"
        from survey.core.models import User

        if session.scalar(select(User.id).where(User.email == email)) is None:
            create_user(session, email=email, password=PASSWORD, role="official",
                        city_code=city.code)
            session.commit()
        in_city = session.scalar(select(func.count()).select_from(Response)
                                 .where(Response.city_id == city.id))
        admin_email = "bench.admin@manyi.bench"
        if session.scalar(select(User.id).where(User.email == admin_email)) is None:
            create_user(session, email=admin_email, password=PASSWORD, role="admin")
            session.commit()
    client = app.test_client()
    login = client.post("/auth/login", data={"email": email, "password": PASSWORD})
    assert login.status_code == 302, login.status_code
    pages = [("city overview", f"/dashboard/{city.code}", args.runs)]
    if args.detail:
        pages += [("questionnaire page", f"/dashboard/{city.code}/healthcare", 10),
                  ("complaints queue", "/complaints", 10)]
    print(f"city {city.code}: {in_city:,} responses")
    rows: list[tuple[str, str, float, list[float]]] = []
    for label, path, runs in pages:
        rows.append((label, path, *time_page(client, path, runs)))
    if args.detail:
        admin = app.test_client()
        admin.post("/auth/login", data={"email": admin_email, "password": PASSWORD})
        for label, path, runs in (("all-cities page", "/dashboard/all-cities", 5),
                                  ("evaluation ranking", "/evaluation/", 5),
                                  ("evaluation card", f"/evaluation/city/{city.code}", 5)):
            rows.append((label, path, *time_page(admin, path, runs)))
        # the public pages read a release snapshot: release the city's newest wave first
        with app.app_context():
            from survey.dashboard.estimates import Settings
            from survey.public import service as public

            session = get_session()
            wave = args.end_wave
            if public.latest(session, city.id, wave) is None:
                t0 = time.perf_counter()
                plan = public.preview(session, Settings.of(app.config),
                                      app.extensions["manyi.questionnaires"], city.code, wave)
                public.release(session, plan, note="", actor="bench", user_id=None)
                session.commit()
                print(f"release of {city.code} {wave}: {time.perf_counter() - t0:.1f} s "
                      "(once; the public pages read the frozen snapshot)")
        anonymous = app.test_client()
        for label, path in (("public index", "/public"),
                            ("public city", f"/public/{city.code}"),
                            ("public questionnaire", f"/public/{city.code}/healthcare"),
                            ("public lists", "/public/lists"),
                            ("public data file", f"/public/data/{city.code}/{args.end_wave}.csv")):
            rows.append((label, path, *time_page(anonymous, path, 20)))
    for label, path, cold, times in rows:
        ms = [t * 1000 for t in times]
        print(f"{label:<22} {path:<40} cold {cold * 1000:>6.0f} ms; warm ({len(ms)} runs) "
              f"p50 {statistics.median(ms):>5.0f} ms, p95 {percentile(ms, 95):>5.0f} ms, "
              f"max {max(ms):>5.0f} ms")
    app.extensions["manyi.engine"].dispose()


if __name__ == "__main__":
    main()
