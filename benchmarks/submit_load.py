"""Submit load and fault benchmark: web submissions per second against a bare INSERT, and
whether any acknowledged submission is lost while PostgreSQL connections are killed.

    .venv/bin/python benchmarks/submit_load.py                    # 50 clients, 20 s phases
    .venv/bin/python benchmarks/submit_load.py --clients 50 --seconds 15

Prints figures; asserts no timing. Steps:

1. The PostgreSQL database (``--database-url``, default
   ``postgresql+psycopg://postgres@127.0.0.1:5432/manyi_bench_submit``) is created when
   missing (``--reload`` re-creates it), migrated (``survey.core.migrate.upgrade``) and
   given the demo places (``survey.demo.data.load_demo(..., responses=0)``) once. Before each
   load phase the ``response`` table (with its answers and scores) and the scratch table are
   emptied, so every phase starts from the same state and runs are comparable.
2. Two gunicorn servers on the same stack (``--workers 2 --threads 8``, same database): the
   app (``survey:create_app()``) and a bare endpoint that only INSERTs one row
   (``benchmarks/_bare_insert_app.py``). The app runs with ``MANYI_RATELIMIT_ENABLED=false``
   and ``MANYI_MAX_RESPONSES_PER_CLIENT_SITE_DAY`` raised (every client here is 127.0.0.1,
   one client hash); both are printed.
3. ``--clients`` concurrent clients (asyncio, a stdlib HTTP/1.1 keep-alive client, one
   connection each) loop for ``--seconds``: bare phase (POST /insert), submit phase (GET
   /api/v1/survey-token, then POST /api/v1/responses with random answers at a random
   healthcare site), fault phase (the submit loop while a thread terminates the database's
   other connections every ``--kill-every`` seconds). Printed: rates, p50/p99 of the POST
   alone and of token + POST, the 201s per time slice, the ratio to the bare insert; for the
   fault phase acknowledged (201) client_uuids, how many are in ``response``, lost, 5xx and
   connection errors, and how many unacknowledged submissions were stored anyway.

Each phase also prints the CPU seconds of the load generator, of each server's process
tree, of PostgreSQL and of the whole machine (from /proc: the load generator, the servers
and PostgreSQL share the cores, and so may other users of the machine), and what the
database sessions were doing (``pg_stat_activity`` sampled every 0.2 s).

    .venv/bin/python benchmarks/submit_load.py --profile 300

runs no servers: 300 token + submission pairs through the Flask test client in one thread
under cProfile, and prints the manyi functions that take the time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import psycopg
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from _bare_insert_app import TABLE, metadata  # noqa: E402
from _pg import ensure_database  # noqa: E402

from survey import create_app  # noqa: E402
from survey.core.db import get_session  # noqa: E402
from survey.core.migrate import upgrade  # noqa: E402
from survey.core.models import Site  # noqa: E402
from survey.demo.data import load_demo  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/manyi_bench_submit"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
WORKERS, THREADS = 2, 8
DAILY_CAP = 1_000_000_000
KILL_SQL = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name <> 'bench-killer'")
BASE_ANSWERS: dict[str, Any] = {
    "visit_type": "outpatient", "registration_ease": 4, "wayfinding": 5, "process_smooth": 3,
    "wait_doctor": 3, "wait_tests": 2, "wait_too_long": 2, "doctor_listened": 5,
    "doctor_explained": 4, "nurse_attitude": "na", "privacy": 5, "cost_informed": 1,
    "bill_clear": 3, "cost_value": 2, "cleanliness": 5, "amenities": 4,
    "overall_satisfaction": 4, "expectation": 3, "recommend": 4, "complained": "no",
    "respondent": "patient", "age_band": "45_59", "gender": "female",
    "visit_frequency": "once",
}
"""The healthcare answers of ``tests/test_api.py``; every 1-5 item is redrawn per body."""
SCALE_ITEMS = [k for k, v in BASE_ANSWERS.items() if isinstance(v, int)]
CATEGORIES = {"age_band": ["18_29", "30_44", "45_59", "60_69", "70_79"],
              "gender": ["female", "male"]}


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this script started
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def start_server(name: str, app: str, env: dict[str, str], logdir: Path,
                 extra: list[str], workers: int = WORKERS, threads: int = THREADS) -> Server:
    port = free_port()
    log = logdir / f"{name}.log"
    env = {**os.environ, **env, "MANYI_BASE_URL": f"http://127.0.0.1:{port}"}
    cmd = [str(GUNICORN), "--workers", str(workers), "--threads", str(threads),
           "--no-control-socket", "--bind", f"127.0.0.1:{port}", *extra, app]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return Server(name, port, proc, log)


def wait_ready(server: Server, path: str, timeout: float = 60) -> None:
    """Until ``path`` answers (any status); raises with the server's log when it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} server exited ({server.proc.returncode}):\n"
                             + server.log.read_text(errors="replace")[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Connection: close\r\n\r\n".encode())
                if s.recv(12).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.name} server not ready after {timeout:.0f} s; log "
                     f"{server.log}")


# --------------------------------------------------------------------------- client


class Http:
    """One HTTP/1.1 keep-alive connection (Content-Length or chunked bodies)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, method: str, path: str,
                      body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            self.writer.write(head.encode() + b"\r\n" + (body or b""))
            await self.writer.drain()
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            status = int(line.split()[1])
            length, chunked, close = 0, False, False
            while (h := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = h.decode("latin-1").partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    chunked = True
                elif name == "connection" and value == "close":
                    close = True
            if chunked:
                parts = []
                while (size := int((await self.reader.readline()).split(b";")[0], 16)):
                    parts.append(await self.reader.readexactly(size))
                    await self.reader.readline()
                await self.reader.readline()
                data = b"".join(parts)
            else:
                data = await self.reader.readexactly(length)
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return status, data


@dataclass
class Stats:
    post: list[float] = field(default_factory=list)       # POST alone, 2xx, seconds
    full: list[float] = field(default_factory=list)       # token GET + POST, 2xx
    done_at: list[float] = field(default_factory=list)    # completion of each 201
    statuses: Counter[str] = field(default_factory=Counter)
    acked: list[str] = field(default_factory=list)        # client_uuid answered 201
    unacked: list[str] = field(default_factory=list)      # POSTed, answered 5xx or no answer
    elapsed: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)  # first body of each 4xx/5xx
    db_sessions: str = ""                                   # Sampler.report()


def submission(rng: random.Random, site: str, token: str | None) -> tuple[str, bytes]:
    answers = dict(BASE_ANSWERS)
    for item in SCALE_ITEMS:
        answers[item] = rng.randint(1, 5)
    for item, options in CATEGORIES.items():
        answers[item] = rng.choice(options)
    end = datetime.now(UTC).replace(microsecond=0)
    started = end - timedelta(seconds=rng.randint(180, 900))
    cuuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    body: dict[str, Any] = {
        "client_uuid": cuuid, "questionnaire": "healthcare", "version": 1, "site": site,
        "answers": answers, "consent_version": "2026-01", "channel": "web",
        "started_at": started.isoformat(), "submitted_at": end.isoformat()}
    if token is not None:
        body["survey_token"] = token
    return cuuid, json.dumps(body).encode()


async def client_loop(kind: str, port: int, sites: list[str], stats: Stats, t_start: float,
                      deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    http = Http(port)
    try:
        while time.perf_counter() < deadline:
            site = rng.choice(sites)
            t0 = time.perf_counter()
            token = None
            try:
                if kind == "submit":
                    query = urlencode({"site": site, "questionnaire": "healthcare"})
                    status, data = await http.request("GET", f"/api/v1/survey-token?{query}")
                    if status != 200:
                        stats.statuses[f"token {status}"] += 1
                        stats.samples.setdefault(f"token {status}", data[:300].decode(
                            errors="replace"))
                        continue
                    token = json.loads(data)["token"]
                cuuid, body = submission(rng, site, token)
                path = "/api/v1/responses" if kind == "submit" else "/insert"
                t1 = time.perf_counter()
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
                stats.errors[f"token {type(exc).__name__}"] += 1
                continue
            try:
                status, data = await http.request("POST", path, body)
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
                stats.errors[f"post {type(exc).__name__}"] += 1
                stats.unacked.append(cuuid)
                continue
            t2 = time.perf_counter()
            stats.statuses[str(status)] += 1
            if status >= 400:
                stats.samples.setdefault(str(status), data[:300].decode(errors="replace"))
            if status == 201:
                answered = json.loads(data)
                if answered.get("client_uuid") != cuuid:
                    stats.errors["201 for another client_uuid"] += 1
                stats.acked.append(cuuid)
                stats.post.append(t2 - t1)
                stats.full.append(t2 - t0)
                stats.done_at.append(t2 - t_start)
            elif status >= 500:
                stats.unacked.append(cuuid)
    finally:
        await http.close()


async def drive(kind: str, port: int, sites: list[str], clients: int, seconds: float,
                seed: int) -> Stats:
    stats = Stats()
    t_start = time.perf_counter()
    deadline = t_start + seconds
    await asyncio.gather(*(client_loop(kind, port, sites, stats, t_start, deadline,
                                       seed * 100_000 + i) for i in range(clients)))
    stats.elapsed = time.perf_counter() - t_start
    return stats


CPU_OF: dict[str, int] = {}
"""Server name -> gunicorn master pid, for :func:`cpu_seconds`."""


def run_phase(kind: str, port: int, sites: list[str], clients: int, seconds: float,
              seed: int, conninfo: str | None = None) -> tuple[Stats, dict[str, float]]:
    """The phase's stats and the CPU seconds it cost: load generator, servers, PostgreSQL.
    With ``conninfo``, also prints what the database sessions were doing (sampled)."""
    sampler = Sampler(conninfo) if conninfo else None
    if sampler:
        sampler.start()
    before, cpu0 = cpu_seconds(CPU_OF), time.process_time()
    stats = asyncio.run(drive(kind, port, sites, clients, seconds, seed))
    after = cpu_seconds(CPU_OF)
    if sampler:
        sampler.stop_event.set()
        sampler.join()
        stats.db_sessions = sampler.report()
    cpu = {"load generator": time.process_time() - cpu0}
    cpu |= {name: after[name] - before[name] for name in after}
    return stats, cpu


# --------------------------------------------------------------------------- CPU


TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[str, int, float, float]:
    """``(comm, ppid, own CPU s, reaped children's CPU s)`` from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    f = raw[raw.rindex(")") + 2:].split()
    return comm, int(f[1]), (int(f[11]) + int(f[12])) / TICK, (int(f[13]) + int(f[14])) / TICK


def cpu_seconds(servers: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each server's process tree (gunicorn master + workers, also
    reaped workers) and of every PostgreSQL process (the postmaster's reaped children
    included: killed backends keep counting). PostgreSQL serves every database on this
    machine, so other users' queries count too."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stats[int(entry.name)] = _proc_stat(int(entry.name))
    out = {name: 0.0 for name in servers} | {"postgres": 0.0}
    fields_ = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    out["whole machine (busy)"] = (sum(fields_) - fields_[3] - fields_[4]) / TICK
    for name, master in servers.items():
        if master in stats:
            out[name] += stats[master][2] + stats[master][3]
        out[name] += sum(own for _c, ppid, own, _r in stats.values() if ppid == master)
    def is_pg(pid: int) -> bool:
        return pid in stats and stats[pid][0].startswith(("postgres", "postmaster"))

    for pid, (_comm, ppid, own, reaped) in stats.items():
        if is_pg(pid):  # the postmaster (parent not PostgreSQL) also holds reaped backends
            out["postgres"] += own + (0.0 if is_pg(ppid) else reaped)
    return out


# --------------------------------------------------------------------------- killer


class Killer(threading.Thread):
    """Every ``every`` seconds, terminate the database's other connections (on a
    connection of its own, ``application_name=bench-killer``)."""

    def __init__(self, conninfo: str, every: float) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.every = conninfo, every
        self.stop_event = threading.Event()
        self.rounds: list[int] = []
        self.failures: Counter[str] = Counter()

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True,
                             application_name="bench-killer") as conn:
            while not self.stop_event.wait(self.every):
                try:
                    rows = conn.execute(KILL_SQL).fetchall()
                    self.rounds.append(sum(1 for (ok,) in rows if ok))
                except psycopg.Error as exc:
                    self.failures[type(exc).__name__] += 1


class Sampler(threading.Thread):
    """Every 0.2 s, what the database's other sessions are doing (state, wait event)."""

    SQL = ("SELECT state, coalesce(wait_event_type || ':' || wait_event, 'on CPU') "
           "FROM pg_stat_activity WHERE datname = current_database() "
           "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")

    def __init__(self, conninfo: str) -> None:
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.stop_event = threading.Event()
        self.seen: Counter[str] = Counter()
        self.samples = 0

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True,
                             application_name="bench-sampler") as conn:
            while not self.stop_event.wait(0.2):
                self.samples += 1
                for state, wait in conn.execute(self.SQL).fetchall():
                    self.seen[state if state != "active" else f"active, {wait}"] += 1

    def report(self) -> str:
        if not self.samples:
            return "no samples"
        top = self.seen.most_common(6)
        return ", ".join(f"{k} {v / self.samples:.1f}" for k, v in top)


# --------------------------------------------------------------------------- report


def ms(values: list[float], q: float) -> str:
    return f"{np.percentile(np.asarray(values), q) * 1000:.1f} ms" if values else "n/a"


def slices(stats: Stats, width: float) -> str:
    if not stats.done_at:
        return "none"
    n = max(1, int(np.ceil(stats.elapsed / width)))
    counts = np.histogram(stats.done_at, bins=n, range=(0, n * width))[0]
    widths = [min(width, stats.elapsed - i * width) for i in range(n)]
    # a tail slice under half the width (clients finishing their last request) is left out
    return ", ".join(f"{c / w:,.0f}" for c, w in zip(counts, widths, strict=True)
                     if w >= width / 2)


def summary(label: str, stats: Stats, cpu: dict[str, float], with_token: bool) -> float:
    ok = len(stats.acked)
    rate = ok / stats.elapsed if stats.elapsed else 0.0
    print(f"{label}: {ok:,} acknowledged (201) in {stats.elapsed:.1f} s = {rate:,.0f}/s")
    print(f"  POST latency (201s): p50 {ms(stats.post, 50)}, p99 {ms(stats.post, 99)}, "
          f"max {ms(stats.post, 100)}")
    if with_token:
        print(f"  token GET + POST:    p50 {ms(stats.full, 50)}, p99 {ms(stats.full, 99)}, "
              f"max {ms(stats.full, 100)}")
    print(f"  201/s per 5 s slice: {slices(stats, 5.0)}")
    print(f"  answers by status: {dict(sorted(stats.statuses.items()))}"
          + (f"; connection errors: {dict(stats.errors)}" if stats.errors else ""))
    for status, sample in sorted(stats.samples.items()):
        print(f"  first {status} answer: {' '.join(sample.split())}")
    ok_n = max(ok, 1)
    if stats.db_sessions:
        print(f"  database sessions (mean count, sampled every 0.2 s): {stats.db_sessions}")
    cores = os.cpu_count() or 1
    print(f"  CPU in {stats.elapsed:.1f} s wall ({cores} cores = "
          f"{cores * stats.elapsed:.0f} core-s): "
          + ", ".join(f"{name} {sec:.1f} s ({sec / ok_n * 1000:.1f} ms per 201)"
                      for name, sec in cpu.items()))
    return rate


def count_in(engine: Engine, table: str, uuids: list[str]) -> int:
    found = 0
    with engine.connect() as conn:
        for start in range(0, len(uuids), 10_000):
            found += conn.scalar(text(f"SELECT count(*) FROM {table} "
                                      "WHERE client_uuid = ANY(:u)"),
                                 {"u": uuids[start:start + 10_000]}) or 0
    return found


def empty_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE response, {TABLE.name} RESTART IDENTITY CASCADE"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE response, {TABLE.name}"))


def machine(engine: Engine) -> None:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?")
    with engine.connect() as conn:
        pg = conn.scalar(text("SHOW server_version"))
        sync = conn.scalar(text("SHOW synchronous_commit"))
        maxconn = conn.scalar(text("SHOW max_connections"))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores ({model}), load average {load}; "
          f"{platform.platform()}")
    print(f"versions: Python {platform.python_version()}, Flask {version('flask')}, "
          f"SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}, "
          f"gunicorn {version('gunicorn')}, PostgreSQL {pg} (synchronous_commit={sync}, "
          f"max_connections={maxconn})")


# --------------------------------------------------------------------------- main


def prepare_database(url: str, reload: bool) -> list[str]:
    """Migrated database with the demo places; the healthcare site codes."""
    ensure_database(url, reload)
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp(),
                      "SECRET_KEY": "bench"})
    qs = app.extensions["manyi.questionnaires"]
    kinds = qs["healthcare"].site_kinds
    with app.app_context():
        session = get_session()
        if not session.scalar(select(func.count()).select_from(Site)):
            result = load_demo(session, qs, cities=3, responses=0, seed=1)
            print(f"loaded demo places: {result.sites} sites in {result.cities} cities")
        sites = list(session.scalars(select(Site.code).where(
            Site.active.is_(True), Site.kind.in_(kinds)).order_by(Site.code)))
    app.extensions["manyi.engine"].dispose()
    if not sites:
        raise SystemExit(f"no active {'/'.join(kinds)} site in {make_url(url).database}")
    return sites


def profile(url: str, sites: list[str], n: int, seed: int) -> None:
    """``n`` token + submission pairs through the Flask test client under cProfile: the
    app's own CPU per submission, and the manyi functions that take it."""
    import cProfile
    import io
    import pstats

    from sqlalchemy import event

    engine = create_engine(url)
    metadata.create_all(engine)  # the scratch table empty_tables() truncates too
    empty_tables(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "INSTANCE_DIR": tempfile.mkdtemp(),
                      "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
                      "MAX_RESPONSES_PER_CLIENT_SITE_DAY": DAILY_CAP})
    client = app.test_client()
    statements = [0]
    event.listen(app.extensions["manyi.engine"], "before_cursor_execute",
                 lambda *_a: statements.__setitem__(0, statements[0] + 1))
    rng = random.Random(seed)

    def one() -> None:
        site = rng.choice(sites)
        got = client.get("/api/v1/survey-token",
                         query_string={"site": site, "questionnaire": "healthcare"})
        _cuuid, body = submission(rng, site, got.get_json()["token"])
        answer = client.post("/api/v1/responses", data=body, content_type="application/json")
        if answer.status_code != 201:
            raise SystemExit(f"profile: POST answered {answer.status_code}: "
                             f"{answer.get_data(as_text=True)[:300]}")

    for _ in range(20):
        one()
    statements[0] = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        one()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"{n} token GET + POST pairs in one thread, no profiler: {wall / n * 1000:.1f} ms "
          f"wall, {cpu / n * 1000:.1f} ms CPU (client included) and "
          f"{statements[0] / n:.1f} SQL statements per submission")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        one()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(r"/survey/", 25)
    table = out.getvalue().split("filename:lineno(function)", 1)[-1].strip("\n")
    print("under cProfile (it slows calls down: compare shares, not ms); manyi functions:\n"
          "   ncalls  tottime  percall  cumtime  percall filename:lineno(function)\n" + table)
    out.seek(0)
    out.truncate()
    stats.print_callees(r"ingest.py:\d+\(store\)")
    callees = out.getvalue().split("was called by...", 1)[0]
    print("what ingest.store calls:" + callees.split("called...", 1)[-1].rstrip())
    app.extensions["manyi.engine"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--kill-every", type=float, default=3.0,
                        help="seconds between connection kills in the fault phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help=f"gunicorn workers of both servers (default {WORKERS})")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"gunicorn threads per worker of both servers (default {THREADS}; "
                             "1 = the sync worker)")
    parser.add_argument("--reload", action="store_true", help="drop and re-create the database")
    parser.add_argument("--skip-fault", action="store_true", help="no fault phase")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="instead of the load: N submissions in this process (Flask test "
                             "client, one thread) under cProfile; prints where the time goes")
    args = parser.parse_args()
    if (args.clients < 1 or args.seconds <= 0 or args.kill_every <= 0 or args.workers < 1
            or args.threads < 1):
        raise SystemExit("--clients, --seconds, --kill-every, --workers and --threads must be "
                         "positive")
    url = make_url(args.database_url).render_as_string(hide_password=False)
    sites = prepare_database(url, args.reload)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    if args.profile:
        profile(url, sites, args.profile, args.seed)
        return
    engine = create_engine(url)
    metadata.create_all(engine)
    secret = os.environ.get("MANYI_SECRET_KEY") or uuid.uuid4().hex
    app_env = {"MANYI_DATABASE_URL": url, "MANYI_SECRET_KEY": secret,
               "MANYI_INSTANCE_DIR": tempfile.mkdtemp(prefix="manyi-bench-submit-"),
               "MANYI_RATELIMIT_ENABLED": "false",
               "MANYI_MAX_RESPONSES_PER_CLIENT_SITE_DAY": str(DAILY_CAP)}
    logdir = Path(tempfile.mkdtemp(prefix="manyi-bench-logs-"))
    servers: list[Server] = []

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        app = start_server("app", "survey:create_app()", app_env, logdir, [],
                           args.workers, args.threads)
        servers.append(app)
        bare = start_server("bare", "_bare_insert_app:create_app()",
                            {"MANYI_DATABASE_URL": url}, logdir,
                            ["--pythonpath", str(HERE)], args.workers, args.threads)
        servers.append(bare)
        CPU_OF.update({s.name: s.proc.pid for s in servers})
        wait_ready(app, "/api/v1/questionnaires")
        wait_ready(bare, "/insert")
        machine(engine)
        print(f"servers: gunicorn --workers {args.workers} --threads {args.threads} each "
              f"(app :{app.port}, bare insert :{bare.port}); logs in {logdir}")
        print(f"app environment: MANYI_RATELIMIT_ENABLED=false, "
              f"MANYI_MAX_RESPONSES_PER_CLIENT_SITE_DAY={DAILY_CAP} (every client is "
              f"127.0.0.1), tables emptied before each phase")
        print(f"load: {args.clients} clients (asyncio, one keep-alive connection each), "
              f"{args.seconds:.0f} s per phase, {len(sites)} healthcare sites, random "
              f"answers")
        # Warm-up (not counted): every worker imports and connects.
        empty_tables(engine)
        run_phase("bare", bare.port, sites, min(args.clients, 16), 1.0, args.seed + 90)
        run_phase("submit", app.port, sites, min(args.clients, 16), 1.0, args.seed + 91)

        empty_tables(engine)
        bare_stats, cpu = run_phase("bare", bare.port, sites, args.clients, args.seconds,
                                    args.seed, conninfo)
        bare_rate = summary("bare insert (POST /insert)", bare_stats, cpu, with_token=False)
        empty_tables(engine)
        sub_stats, cpu = run_phase("submit", app.port, sites, args.clients, args.seconds,
                                   args.seed + 1, conninfo)
        sub_rate = summary("submissions (token GET + POST /api/v1/responses)", sub_stats,
                           cpu, with_token=True)
        post_only = len(sub_stats.post) / sum(sub_stats.post) * args.clients \
            if sub_stats.post else 0.0
        if bare_rate:
            print(f"ratio submissions/s : bare inserts/s = {sub_rate / bare_rate:.2f}; "
                  f"POST p50 {ms(sub_stats.post, 50)} vs bare {ms(bare_stats.post, 50)}, "
                  f"p99 {ms(sub_stats.post, 99)} vs {ms(bare_stats.post, 99)}")
        print(f"  (POST alone, if clients did nothing else: ~{post_only:,.0f}/s = "
              f"clients / mean POST latency)")
        with engine.connect() as conn:
            by_status = {f"{status} {reason or ''}".strip(): n for status, reason, n in
                         conn.execute(text(
                             "SELECT status, split_part(status_reason, ':', 1), count(*) "
                             "FROM response GROUP BY 1, 2 ORDER BY 3 DESC")).all()}
        print(f"  stored by status and first screening finding: {by_status}")

        if not args.skip_fault:
            empty_tables(engine)
            engine.dispose()
            killer = Killer(conninfo, args.kill_every)
            killer.start()
            fault, cpu = run_phase("submit", app.port, sites, args.clients, args.seconds,
                                   args.seed + 2)
            killer.stop_event.set()
            killer.join()
            summary(f"fault phase (connections terminated every {args.kill_every:g} s)",
                    fault, cpu, with_token=True)
            print(f"  kills: {len(killer.rounds)} rounds, backends terminated per round "
                  f"{killer.rounds}" + (f", killer errors {dict(killer.failures)}"
                                        if killer.failures else ""))
            found = count_in(engine, "response", fault.acked)
            five = {k: v for k, v in fault.statuses.items()
                    if k.split()[-1].startswith("5")}
            stored_anyway = count_in(engine, "response", fault.unacked)
            print(f"  acknowledged {len(fault.acked):,}, found {found:,}, "
                  f"lost {len(fault.acked) - found:,}")
            print(f"  5xx answers by status: {five or 'none'}; no answer (connection "
                  f"error): {sum(v for k, v in fault.errors.items() if k.startswith('post'))}")
            print(f"  unacknowledged (5xx or no answer) but stored anyway: "
                  f"{stored_anyway:,} of {len(fault.unacked):,}")
    except KeyboardInterrupt:
        print("interrupted: stopping the servers", file=sys.stderr)
    finally:
        for server in servers:
            server.stop()
        engine.dispose()


if __name__ == "__main__":
    main()
