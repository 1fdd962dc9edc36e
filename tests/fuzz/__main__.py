"""``python -m tests.fuzz``: fuzz the JSON API with schemathesis against docs/openapi.yaml.

1. a temporary instance (SQLite database, instance folder, secret key) in a temporary
   folder, migrated (``manyi db upgrade``) and loaded with a small demo (``manyi demo``:
   one city, its sites, a few hundred responses, the demo agency and its batch);
2. an agency API token (``manyi agency token create --agency demo-agency``), sent as
   ``Authorization: Bearer …`` on the agency operations (``tests/fuzz/schemathesis.toml``)
   so they are exercised beyond their 401;
3. the app under gunicorn on a free port of 127.0.0.1 with ``MANYI_BASE_URL`` set to it;
4. ``schemathesis run docs/openapi.yaml --checks all`` with a fixed seed, a per-operation
   example bound and a wall-time budget (docs/decisions.md, "API fuzzing in CI").

Exits with schemathesis' status: non-zero on any failure (a 5xx, an undocumented status
code, a response or header that does not match the document, a missing ``Allow``…), or 2
when the instance cannot be set up. Options: ``--seed``, ``--max-examples``,
``--max-time``, ``--workers``, ``--keep`` (leave the temporary folder and print its path),
and ``--`` followed by extra schemathesis options (e.g. ``-- --include-path /sites``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCHEMA = REPO / "docs" / "openapi.yaml"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
SEED = 20260113
MAX_EXAMPLES = 40
MAX_TIME = 110
"""Seconds for the schemathesis run itself: fuzzing and stateful testing repeat until it
is spent. Setup and the server start add 20–40 s, so the step stays under 3 minutes."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _manyi(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "manyi"), *args], env=env, cwd=REPO,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"fuzz: manyi {' '.join(args)} failed (exit {done.returncode})")
    return done.stdout


def _wait_for(url: str, server: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"fuzz: gunicorn exited with {server.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"fuzz: {url} did not answer within {seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--max-examples", type=int, default=MAX_EXAMPLES)
    parser.add_argument("--max-time", type=int, default=MAX_TIME)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="after --: more schemathesis options")
    args = parser.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="manyi-fuzz-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANYI_")}
    env.update({
        "MANYI_DATABASE_URL": f"sqlite:///{tmp / 'manyi.sqlite3'}",
        "MANYI_INSTANCE_DIR": str(tmp / "instance"),
        "MANYI_SECRET_KEY": secrets.token_hex(32),
        "MANYI_BASE_URL": base,
        # Complainants' phone numbers are stored encrypted only (POST /complaints).
        "MANYI_COMPLAINT_KEY": Fernet.generate_key().decode(),
        # The per-address limits (30 tokens a minute, 10 rejected credentials in 15
        # minutes...) would turn most of the run into 429s, all from one address: the
        # fuzzer is to reach the views. The limits have their own tests (tests/test_*).
        "MANYI_RATELIMIT_ENABLED": "false",
    })
    (tmp / "instance").mkdir()
    server: subprocess.Popen[bytes] | None = None
    try:
        _manyi(env, "db", "upgrade")
        _manyi(env, "demo", "--cities", "1", "--responses", "300", "--seed", "1",
               "--no-accounts")
        token = _manyi(env, "agency", "token", "create", "--agency", "demo-agency",
                       "--label", "schemathesis").strip().splitlines()[0]
        log = (tmp / "gunicorn.log").open("wb")
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "--workers", "1", "--threads", "8",
             "--no-control-socket", "--bind", f"127.0.0.1:{port}",
             "--error-logfile", "-", "survey:create_app()"],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        _wait_for(f"{base}/api/v1/sites", server)
        setup = time.monotonic() - started
        print(f"fuzz: instance ready in {setup:.1f} s; serving on {base} "
              f"(seed {args.seed}, at most {args.max_examples} examples per operation, "
              f"{args.max_time} s)", flush=True)
        command = [
            str(BIN / "schemathesis"), "--config-file", str(CONFIG),
            "run", str(SCHEMA), "--url", f"{base}/api/v1",
            "--checks", "all", "--seed", str(args.seed),
            "--max-examples", str(args.max_examples), "--max-time", str(args.max_time),
            "--workers", str(args.workers), "--generation-database", "none",
            "--request-timeout", "20", "--no-color", *extra,
        ]
        status = subprocess.run(command, cwd=tmp,
                                env={**env, "MANYI_FUZZ_AGENCY_TOKEN": token}).returncode
        print(f"fuzz: schemathesis exit {status} after {time.monotonic() - started:.0f} s "
              f"in all", flush=True)
        if status != 0:
            server.terminate()
            server.wait(10)
            errors = [line for line in (tmp / "gunicorn.log").read_text(
                errors="replace").splitlines() if "Traceback" in line or "Error" in line]
            if errors:
                print("fuzz: server log (first errors):", *errors[:20], sep="\n  ")
        return status
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep:
            print(f"fuzz: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
