"""``python -m analysis``: JSON/table output, missing values, bad input → exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main

API_DIR = Path(__file__).resolve().parents[1] / "data" / "api"

KEYS = [
    "domain",
    "estimate",
    "standard_error",
    "ci_low",
    "ci_high",
    "confidence_level",
    "df",
    "n",
    "n_effective",
    "design_effect",
    "n_missing",
]


def run_json(capsys, *args: str):
    status = main([*args, "--format", "json"])
    out = capsys.readouterr().out
    assert status == 0
    return json.loads(out)


def test_mean_json_matches_r_survey(capsys):
    # svymean(~api00, dstrat) = 662.28736, SE 9.408941 (R survey, tests/api.Rout.save)
    [record] = run_json(
        capsys,
        "mean",
        str(API_DIR / "apistrat.csv"),
        "--value",
        "api00",
        "--weight",
        "pw",
        "--strata",
        "stype",
        "--fpc",
        "fpc",
    )
    assert list(record) == KEYS
    assert record["domain"] is None
    assert record["estimate"] == pytest.approx(662.28736, rel=1e-8)
    assert record["standard_error"] == pytest.approx(9.408941, rel=1e-6)
    assert record["df"] == 197 and record["n_missing"] == 0


def test_by_gives_one_object_per_domain(capsys):
    records = run_json(
        capsys,
        "mean",
        str(API_DIR / "apiclus1.csv"),
        "--value",
        "api00",
        "--weight",
        "pw",
        "--cluster",
        "dnum",
        "--by",
        "stype",
    )
    assert [r["domain"] for r in records] == ["E", "H", "M"]
    # degf(subset(dclus1, stype == "E")) = 14, "H" 7, "M" 11 (R survey 4.1.1)
    assert [r["df"] for r in records] == [14, 7, 11]


def test_proportion_with_method(capsys):
    [record] = run_json(
        capsys,
        "proportion",
        str(API_DIR / "apiclus1.csv"),
        "--value",
        "stype",
        "--level",
        "H",
        "--weight",
        "pw",
        "--cluster",
        "dnum",
        "--fpc",
        "fpc",
        "--method",
        "korn-graubard",
        "--confidence",
        "0.9",
    )
    assert record["estimate"] == pytest.approx(0.076503, abs=5e-7)  # R svymean(~stype)
    assert record["confidence_level"] == 0.9


def test_empty_values_are_left_out_and_counted(tmp_path: Path, capsys):
    path = tmp_path / "bom.csv"
    path.write_text("\ufeffscore,w,site\n80,1,a\n,2,a\n70,1,b\n90,1,b\nNA,1,b\n", encoding="utf-8")
    [record] = run_json(
        capsys, "mean", str(path), "--value", "score", "--weight", "w", "--cluster", "site"
    )
    assert record["n"] == 3 and record["n_missing"] == 2
    assert record["estimate"] == pytest.approx(80.0)
    assert record["df"] == 1  # the design (2 sites) is kept


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("a,w\n1,1\n", ["--value", "b"], "column 'b' not found"),
        ("a,w\n1,1\nx,1\n", ["--value", "a"], "column 'a', line 3"),
        ("a,w\n1,1\n2,oops\n", ["--value", "a", "--weight", "w"], "column 'w', line 3"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    assert main(["mean", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_level_exits_2(capsys):
    status = main(["proportion", str(API_DIR / "apisrs.csv"), "--value", "stype", "--level", "X"])
    assert status == 2
    assert "level 'X'" in capsys.readouterr().err


def test_table_format(capsys):
    assert main(["mean", str(API_DIR / "apisrs.csv"), "--value", "api00"]) == 0
    out = capsys.readouterr().out
    assert "estimate" in out and "656.585" in out


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            "mean",
            str(API_DIR / "apisrs.csv"),
            "--value",
            "enroll",
            "--fpc",
            "fpc",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    # svymean(~enroll, srs) = 584.61, SE 27.368 (R survey)
    assert json.loads(done.stdout)[0]["standard_error"] == pytest.approx(27.368, abs=5e-4)
