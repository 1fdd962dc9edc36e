"""``python -m analysis``: JSON/table output, missing values, bad input → exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    "note",
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


# --------------------------------------------------------------------------- issue 14 options

R_CLI = """
d0 <- read.csv("d.csv", stringsAsFactors = FALSE)
options(survey.lonely.psu = "adjust")
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d0, nest = TRUE)
m <- svymean(~y, des, na.rm = TRUE); out("mean", c(coef(m), SE(m)))
t <- svytotal(~y, des, na.rm = TRUE); out("total", c(coef(t), SE(t)))
out("df_d", degf(subset(des, dom == "d" & !is.na(y))))
des <- update(des, age = factor(age, levels = c("young", "mid", "old")))
cal <- calibrate(des, ~age + sex, population = c(`(Intercept)` = 10000, agemid = 4200,
                 ageold = 2800, sexm = 4900), calfun = "raking", epsilon = 1e-12)
m <- svymean(~y, cal, na.rm = TRUE); out("rake", c(coef(m), SE(m)))
ps <- postStratify(des, ~age, data.frame(age = c("young", "mid", "old"),
                                         Freq = c(3000, 4200, 2800)))
m <- svymean(~y, ps, na.rm = TRUE); out("post", c(coef(m), SE(m)))
rep <- as.svrepdesign(subset(des, !is.na(y)), type = "JKn")
m <- svymean(~y, rep); out("jkn", c(coef(m), SE(m)))
q <- svyquantile(~y, des, quantiles = 0.5, na.rm = TRUE, ci = TRUE)
out("median", q$y[1, 1:3])
b <- svyby(~y, ~dom, subset(des, !is.na(y)), svymean, covmat = TRUE)
cc <- svycontrast(b, c(a = 1, b = -1)); out("contrast", c(coef(cc), SE(cc)))
"""


@pytest.fixture(scope="module")
def generated_csv(tmp_path_factory):
    from tests.analysis.rsurvey import generated_design, r_reference

    d = generated_design(41, lonely=0)
    columns = ("stratum", "psu", "w", "y", "dom", "age", "sex")
    frame = {k: d[k] for k in columns}
    r = r_reference("cli_generated_41", R_CLI, {"d": frame})
    path = tmp_path_factory.mktemp("cli") / "d.csv"
    lines = [",".join(columns)]
    for i in range(len(d["y"])):
        lines.append(",".join("" if k == "y" and np.isnan(d[k][i]) else str(d[k][i])
                              for k in columns))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    margins = path.parent / "margins.json"
    margins.write_text(json.dumps({"age": {"young": 3000, "mid": 4200, "old": 2800},
                                   "sex": {"f": 5100, "m": 4900}}), encoding="utf-8")
    population = path.parent / "population.json"
    population.write_text(json.dumps({"young": 3000, "mid": 4200, "old": 2800}),
                          encoding="utf-8")
    return path, margins, population, r


def design_args(path):
    return [str(path), "--value", "y", "--weight", "w", "--strata", "stratum", "--cluster",
            "psu", "--single-psu", "adjust"]


def test_cli_issue_14_options_match_r(capsys, generated_csv):
    # Each figure against R survey 4.1 (R_CLI above): svymean/svytotal(na.rm=TRUE),
    # degf(subset()), calibrate(calfun="raking"), postStratify, as.svrepdesign(type="JKn"),
    # svyquantile(quantiles=0.5), svycontrast(svyby(covmat=TRUE)).
    path, margins, population, r = generated_csv
    rel = 1e-8
    [m] = run_json(capsys, "mean", *design_args(path))
    assert (m["estimate"], m["standard_error"]) == pytest.approx(tuple(r["mean"]), rel=rel)
    [t] = run_json(capsys, "total", *design_args(path))
    assert (t["estimate"], t["standard_error"]) == pytest.approx(tuple(r["total"]), rel=rel)
    by = {x["domain"]: x for x in run_json(capsys, "mean", *design_args(path), "--by", "dom")}
    assert by["d"]["df"] == r["df_d"][0] == 0 and by["d"]["ci_low"] is None
    assert by["d"]["note"].startswith("no degrees of freedom")
    design_df = run_json(capsys, "mean", *design_args(path), "--by", "dom", "--df", "design")
    assert {x["df"] for x in design_df} == {m["df"]}
    [raked] = run_json(capsys, "mean", *design_args(path), "--rake", str(margins))
    assert (raked["estimate"], raked["standard_error"]) == pytest.approx(tuple(r["rake"]),
                                                                         rel=rel)
    [post] = run_json(capsys, "mean", *design_args(path), "--poststratify", "age",
                      "--population", str(population))
    assert (post["estimate"], post["standard_error"]) == pytest.approx(tuple(r["post"]),
                                                                       rel=rel)
    [jkn] = run_json(capsys, "mean", *design_args(path)[:-2], "--replicates", "jkn")
    assert (jkn["estimate"], jkn["standard_error"]) == pytest.approx(tuple(r["jkn"]), rel=rel)
    [median] = run_json(capsys, "quantile", *design_args(path), "--q", "0.5")
    assert (median["estimate"], median["ci_low"], median["ci_high"]) == pytest.approx(
        tuple(r["median"]), rel=rel)
    status = main(["contrast", *design_args(path), "--by", "dom", "--coef", "a=1",
                   "--coef", "b=-1", "--format", "json"])
    c = json.loads(capsys.readouterr().out)
    assert status == 0 and c["coefficients"] == {"a": 1.0, "b": -1.0}
    assert (c["estimate"], c["standard_error"]) == pytest.approx(tuple(r["contrast"]), rel=rel)
    status = main(["contrast", *design_args(path), "--by", "dom", "--coef", "a=1",
                   "--coef", "@total=-1", "--format", "json"])
    assert status == 0 and json.loads(capsys.readouterr().out)["df"] == m["df"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--rake", "missing.json"], "--rake missing.json: No such file"),
    (["--poststratify", "age"], "--poststratify needs --population"),
    (["--replicates", "bootstrap"], "needs --replicates-n R and --seed S"),
    (["--replicates", "jkn", "--rake", "m.json"], "cannot be combined"),
    (["--bounds", "0.5,2"], "--bounds needs --rake"),
    (["--seed", "3"], "need --replicates"),
])
def test_cli_issue_14_bad_options_exit_2(capsys, generated_csv, extra, message):
    path = generated_csv[0]
    args = design_args(path)
    if "--replicates" in extra:
        args = args[:-2]
    assert main(["mean", *args, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_bad_margins_name_the_file_and_key(capsys, generated_csv, tmp_path):
    path = generated_csv[0]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"age": {"young": -1, "mid": 4200, "old": 2800}}))
    assert main(["mean", *design_args(path), "--rake", str(bad)]) == 2
    assert f"--rake {bad}: age.young: population total must be a positive number" in \
        capsys.readouterr().err
    assert main(["contrast", *design_args(path), "--by", "dom", "--coef", "zz=1"]) == 2
    assert "--coef 'zz': no such level in column 'dom'" in capsys.readouterr().err
    assert main(["contrast", *design_args(path), "--by", "dom", "--coef", "a"]) == 2
    assert "expected LEVEL=NUMBER" in capsys.readouterr().err
