"""A non-editable install works: the wheel ships the top-level data folders (``static``,
``questionnaires``, ``migrations``) as ``survey/_data/<name>`` plus the templates and
translations, and the installed package migrates a database and serves pages from a
working directory outside the repository, without the source tree on ``sys.path``."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po

from survey import config as survey_config
from survey.core.models import Base

REPO = Path(__file__).resolve().parents[1]
DATA_FOLDERS = ("static", "questionnaires", "migrations")
TIMEOUT = 120


def _source_files(folder: Path) -> list[str]:
    """Files under ``folder`` as posix paths relative to it, without bytecode caches."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would put the source tree on ``sys.path`` or
    pre-configure manyi."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MANYI_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert importlib.util.find_spec("hatchling") is not None, (
        "hatchling is not installed in this environment (it is in the dev extra: "
        "run `make install`); the wheel is built without build isolation")
    out = tmp_path_factory.mktemp("wheel")
    done = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                 "--no-build-isolation", "--wheel-dir", out, REPO], cwd=out)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout}\n{done.stderr}"
    wheels = list(out.glob("manyi-*.whl"))
    assert len(wheels) == 1, f"expected one manyi wheel in {out}, found {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed (no dependencies); the
    dependencies come from this environment's site-packages through a ``.pth`` line, which
    adds the directory without running its own ``.pth`` files (so the editable install's
    path to the source tree is not picked up)."""
    root = tmp_path_factory.mktemp("venv") / "v"
    done = _run([sys.executable, "-m", "venv", "--without-pip", root], cwd=root.parent)
    assert done.returncode == 0, f"venv failed:\n{done.stderr}"
    python = root / "bin" / "python"
    # Install before the dependencies are visible, so pip sees no other manyi.
    done = _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
                 "--no-deps", "--no-index", wheel], cwd=root.parent, env=_clean_env())
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   cwd=root.parent, env=_clean_env()).stdout.strip()
    ours = sysconfig.get_paths()
    lines = dict.fromkeys([ours["purelib"], ours["platlib"]])
    (Path(purelib) / "zz_manyi_test_dependencies.pth").write_text("\n".join(lines) + "\n")
    return root


def test_source_tree_reads_data_in_place() -> None:
    """The checkout (and so the editable install) has no ``survey/_data`` and reads the
    top-level folders; a stray copy there would shadow them."""
    assert not (REPO / "survey" / "_data").exists()
    assert Path(survey_config.__file__).resolve().is_relative_to(REPO)
    assert Path(survey_config.STATIC_DIR) == REPO / "static"
    assert Path(survey_config.QUESTIONNAIRE_DIR) == REPO / "questionnaires"
    assert Path(survey_config.MIGRATIONS_DIR) == REPO / "migrations"


def test_wheel_ships_data_templates_and_translations(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for folder in DATA_FOLDERS:
        files = _source_files(REPO / folder)
        assert files, f"nothing in {folder}/"
        missing = [f for f in files if f"survey/_data/{folder}/{f}" not in names]
        assert not missing, f"{folder}/ files missing from the wheel: {missing}"
    for must in ("survey/_data/migrations/env.py", "survey/_data/questionnaires/healthcare.yaml",
                 "survey/_data/static/manyi.css"):
        assert must in names
    for sub in ("templates", "translations"):
        files = [f for f in _source_files(REPO / "survey" / sub) if not f.endswith(".mo")]
        assert files
        missing = [f for f in files if f"survey/{sub}/{f}" not in names]
        assert not missing, f"survey/{sub}/ files missing from the wheel: {missing}"
    assert not [n for n in names if n.startswith(("tests/", "static/", "migrations/",
                                                  "questionnaires/"))]


def _head_revision() -> str:
    """The newest migration, read from the source files: the revision nobody revises."""
    revisions: dict[str, str | None] = {}
    for path in (REPO / "migrations" / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev = re.search(r'^revision\s*(?::\s*str\s*)?=\s*"([^"]+)"', text, re.M)
        down = re.search(r'^down_revision\s*(?::[^=]+)?=\s*(?:"([^"]+)"|None)', text, re.M)
        assert rev and down, f"cannot read the revision of {path}"
        revisions[rev.group(1)] = down.group(1)
    heads = set(revisions) - set(revisions.values())
    assert len(heads) == 1, f"expected one head revision, found {heads}"
    return heads.pop()


APP_SCRIPT = r"""
import json, sys
import survey, survey.config as c
from survey import create_app

app = create_app()
client = app.test_client()
css = client.get("/static/manyi.css")
zh = client.get("/?lang=zh-Hans")
en = client.get("/?lang=en")
print(json.dumps({
    "survey_file": survey.__file__,
    "sys_path": sys.path,
    "dirs": [str(c.STATIC_DIR), str(c.QUESTIONNAIRE_DIR), str(c.MIGRATIONS_DIR)],
    "css": [css.status_code, css.get_data().decode("utf-8")],
    "zh": [zh.status_code, zh.get_data(as_text=True)],
    "en": [en.status_code, en.get_data(as_text=True)],
}))
"""


def _translation(msgid: str) -> str:
    for po in (REPO / "survey" / "translations" / "zh_Hans" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as fh:
            message = read_po(fh).get(msgid)
        if message is not None and message.string:
            return str(message.string)
    raise AssertionError(f"no zh-Hans translation of {msgid!r}")


def test_installed_package_migrates_and_serves(venv: Path, tmp_path: Path) -> None:
    site = Path(_run([venv / "bin" / "python", "-c",
                      "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path, env=_clean_env()).stdout.strip())
    work = tmp_path / "elsewhere"
    work.mkdir()
    assert not work.resolve().is_relative_to(REPO)
    db_file = tmp_path / "x.sqlite3"
    env = _clean_env(MANYI_DATABASE_URL=f"sqlite:///{db_file}",
                     MANYI_INSTANCE_DIR=str(tmp_path / "instance"))

    done = _run([venv / "bin" / "manyi", "db", "upgrade"], cwd=work, env=env)
    assert done.returncode == 0, f"manyi db upgrade failed:\n{done.stdout}\n{done.stderr}"
    assert "database at head" in done.stdout
    with sqlite3.connect(db_file) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    assert {"response", "alembic_version"} <= tables
    assert set(Base.metadata.tables) <= tables, set(Base.metadata.tables) - tables
    assert versions == [_head_revision()]

    done = _run([venv / "bin" / "python", "-c", APP_SCRIPT], cwd=work, env=env)
    assert done.returncode == 0, f"the installed app failed:\n{done.stdout}\n{done.stderr}"
    out = json.loads(done.stdout.strip().splitlines()[-1])

    # The installed copy ran, not the source tree.
    assert Path(out["survey_file"]).is_relative_to(site), out["survey_file"]
    this_env = Path(sys.prefix).resolve()
    leaked = [p for p in out["sys_path"] if (work / p).resolve().is_relative_to(REPO)
              and not (work / p).resolve().is_relative_to(this_env)]
    assert not leaked, f"the source tree is on the installed app's sys.path: {leaked}"
    assert [Path(d) for d in out["dirs"]] == [site / "survey" / "_data" / f
                                               for f in ("static", "questionnaires",
                                                         "migrations")]

    status, css = out["css"]
    assert status == 200
    assert css == (REPO / "static" / "manyi.css").read_text(encoding="utf-8")

    msgid = "How satisfied are you with our city's services?"
    healthcare = yaml.safe_load((REPO / "questionnaires" / "healthcare.yaml")
                                .read_text(encoding="utf-8"))
    status, zh = out["zh"]
    zh = html.unescape(zh)
    assert status == 200
    assert _translation(msgid) in zh
    assert healthcare["title"]["zh-Hans"] in zh
    assert msgid not in zh
    status, en = out["en"]
    en = html.unescape(en)
    assert status == 200
    assert msgid in en
    assert healthcare["title"]["en"] in en

    # The catalogue was compiled at start-up inside the installed package.
    assert (site / "survey" / "translations" / "zh_Hans" / "LC_MESSAGES" / "messages.mo").is_file()
