"""The configured origin and the production headers (survey.core.origin, survey.core.web,
Flask-Compress): Host spoofing, QR codes on MANYI_BASE_URL, HTTPS (HSTS, Secure cookies),
``Cache-Control: no-store`` on private pages, the CSP without inline styles, compression.
Real app, real database, real test client."""

from __future__ import annotations

import gzip
import io
import re
import sys
import zipfile
from collections.abc import Iterator
from typing import Any

import brotli
import pytest
import segno
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from survey import create_app
from survey.config import ConfigError
from survey.core.db import get_session
from survey.core.models import Site
from survey.dashboard.assets import PLOTLY_FILENAME
from survey.demo.data import load_demo
from tests.helpers import login, setup_demo
from tests.test_respond import HEALTHCARE, agree, csrf_token, start_healthcare, walk

PUBLIC = "https://manyi.example.cn"


@pytest.fixture
def make_app(app_config: dict[str, object]) -> Iterator[Any]:
    """``make_app(**settings)``: an app on the test database with these settings."""
    made: list[Flask] = []

    def make(**settings: object) -> Flask:
        application = create_app({**app_config, **settings})
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["manyi.engine"].dispose()


def hospital(app: Flask) -> str:
    """Demo places without responses; the code of a hospital (one questionnaire there)."""
    with app.app_context():
        session = get_session()
        load_demo(session, app.extensions["manyi.questionnaires"], cities=1, responses=0,
                  seed=1)
        code = session.scalar(select(Site.code).where(Site.kind == "hospital")
                              .order_by(Site.code))
    assert code
    return code


def svg_for(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=6, border=2, xmldecl=False)
    return buf.getvalue()


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html)


# --------------------------------------------------------------------------- origin


def test_a_request_naming_another_host_is_400(client: FlaskClient) -> None:
    assert client.get("/").status_code == 200  # localhost: trusted in development
    assert client.get("/", base_url="http://127.0.0.1:5000").status_code == 200
    assert client.get("/", base_url="http://evil.example").status_code == 400
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_production_trusts_only_the_base_url_host_and_the_listed_hosts(make_app: Any) -> None:
    app = make_app(ENV="production", BASE_URL=PUBLIC, TRUSTED_HOSTS=("intranet.example",))
    client = app.test_client()
    assert client.get("/", base_url=PUBLIC).status_code == 200
    assert client.get("/", base_url="http://intranet.example:8080").status_code == 200
    for other in ("http://localhost", "http://127.0.0.1", "http://evil.example",
                  "http://manyi.example.cn.evil.example"):
        assert client.get("/", base_url=other).status_code == 400, other


def test_the_qr_code_encodes_the_base_url_whatever_host_the_request_names(
        make_app: Any) -> None:
    app = make_app(BASE_URL=PUBLIC + "/", TRUSTED_HOSTS=("intranet.example",))
    code = hospital(app)
    response = app.test_client().get(f"/sites/{code}/qr", base_url="http://intranet.example")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    expected = f"{PUBLIC}/s/healthcare?site={code}"  # the trailing "/" of BASE_URL dropped
    assert response.get_data() == svg_for(expected)
    assert response.get_data() != svg_for(f"http://intranet.example/s/healthcare?site={code}")
    assert app.test_client().get(f"/sites/{code}/qr",
                                 base_url="http://evil.example").status_code == 400


def test_development_defaults_to_the_local_origin(make_app: Any) -> None:
    app = make_app(BASE_URL="")
    assert app.config["BASE_URL"] == "http://127.0.0.1:5000"
    assert app.config["TRUSTED_HOSTS"] == ["127.0.0.1", "localhost"]


def test_production_without_base_url_fails_with_a_clear_message(make_app: Any) -> None:
    with pytest.raises(ConfigError, match=r"MANYI_BASE_URL is required when "
                                          r"MANYI_ENV=production"):
        make_app(ENV="production", BASE_URL="")
    with pytest.raises(ConfigError, match=r"MANYI_BASE_URL must be an origin .* not "
                                          r"'https://manyi.example.cn/survey'"):
        make_app(BASE_URL=PUBLIC + "/survey")
    with pytest.raises(ConfigError, match=r"MANYI_ENV must be one of development, production"):
        make_app(ENV="prod")


def test_the_manyi_command_reports_the_missing_base_url_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        app_config: dict[str, object]) -> None:
    from survey.cli import main

    monkeypatch.setenv("MANYI_ENV", "production")
    monkeypatch.delenv("MANYI_BASE_URL", raising=False)
    monkeypatch.setenv("MANYI_DATABASE_URL", str(app_config["DATABASE_URL"]))
    monkeypatch.setattr(sys, "argv", ["manyi", "db", "upgrade"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == ("manyi: configuration error: MANYI_BASE_URL is required when "
                   "MANYI_ENV=production (the public origin, e.g. https://manyi.example.cn)\n")


# --------------------------------------------------------------------------- HTTPS


def test_https_turns_on_hsts_and_secure_cookies(make_app: Any) -> None:
    app = make_app(HTTPS=True, BASE_URL=PUBLIC, TRUSTED_HOSTS=("localhost",))
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    client = app.test_client()
    code = hospital(app)
    page = client.get(f"/s/healthcare?site={code}")
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    agreed = client.post(f"/s/healthcare?site={code}",
                         data={"csrf_token": csrf_token(page.text), "consent": "yes"})
    assert agreed.status_code == 302
    cookie = agreed.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "; Secure" in cookie and "HttpOnly" in cookie


def test_without_https_there_is_no_hsts_and_cookies_are_not_secure(app: Flask,
                                                                  client: FlaskClient) -> None:
    assert app.config["REMEMBER_COOKIE_SECURE"] is False
    code = hospital(app)
    page = client.get(f"/s/healthcare?site={code}")
    assert "Strict-Transport-Security" not in page.headers
    agreed = client.post(f"/s/healthcare?site={code}",
                         data={"csrf_token": csrf_token(page.text), "consent": "yes"})
    cookie = agreed.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "Secure" not in cookie


# --------------------------------------------------------------------------- caching


def test_the_respondents_answer_pages_and_receipt_are_not_stored(app: Flask,
                                                                client: FlaskClient) -> None:
    code = hospital(app)
    sites = {"hospital": code}
    consent = client.get(f"/s/healthcare?site={code}")
    assert consent.status_code == 200 and "no-store" not in consent.headers.get(
        "Cache-Control", "")
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    start_healthcare(client, sites)
    page = client.get("/s/healthcare/p/2")
    review = client.get("/s/healthcare/review")
    assert page.status_code == review.status_code == 200
    assert page.headers["Cache-Control"] == review.headers["Cache-Control"] == "no-store"
    fresh = app.test_client()  # walk starts from the consent page
    receipt = walk(fresh, "healthcare", code, HEALTHCARE)
    done = fresh.get(f"/s/healthcare/done/{receipt}")
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"


def test_every_page_for_a_signed_in_user_is_not_stored_but_assets_stay_cached(
        app: Flask, client: FlaskClient) -> None:
    setup_demo(app, cities=1, responses=300)
    assert "no-store" not in client.get("/auth/login").headers.get("Cache-Control", "")
    assert login(client, "admin@test.cn").status_code == 302
    for path in ("/", "/dashboard/", "/dashboard/hangzhou", "/dashboard/hangzhou/healthcare",
                 "/admin/", "/export/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    plotly = client.get(f"/assets/{PLOTLY_FILENAME}")
    assert plotly.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    css = client.get("/static/manyi.css")
    assert css.status_code == 200 and "no-store" not in css.headers.get("Cache-Control", "")
    assert css.headers.get("ETag")


# --------------------------------------------------------------------------- CSP


def test_no_inline_styles_outside_the_chart_pages(app: Flask, client: FlaskClient) -> None:
    setup_demo(app, cities=1, responses=300)
    with app.app_context():
        code = get_session().scalar(select(Site.code).where(Site.kind == "hospital")
                                    .order_by(Site.code))
    strict = {client.get(p).headers["Content-Security-Policy"]
              for p in ("/", "/auth/login", f"/s/healthcare?site={code}", "/nope")}
    [policy] = strict
    assert "style-src 'self';" in policy and "unsafe-inline" not in policy
    assert "script-src 'self';" in policy
    login(client, "admin@test.cn")
    for path in ("/admin/", "/dashboard/", "/export/"):
        assert "unsafe-inline" not in client.get(path).headers["Content-Security-Policy"]
    for path in ("/dashboard/hangzhou", "/dashboard/hangzhou/healthcare",
                 "/dashboard/all-cities"):
        chart_policy = client.get(path).headers["Content-Security-Policy"]
        assert "style-src 'self' 'unsafe-inline';" in chart_policy, path
        assert "script-src 'self';" in chart_policy


def test_templates_have_no_inline_style() -> None:
    from survey.config import PACKAGE_DIR

    found = [str(path) for path in (PACKAGE_DIR / "templates").rglob("*.html")
             if re.search(r"<style|\sstyle=", path.read_text(encoding="utf-8"))]
    assert found == []


# --------------------------------------------------------------------------- compression


def test_a_survey_page_is_compressed_when_the_browser_accepts_it(app: Flask,
                                                                client: FlaskClient) -> None:
    code = hospital(app)
    url = f"/s/healthcare?site={code}"
    plain = client.get(url)
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    zipped = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert int(zipped.headers["Content-Length"]) == len(zipped.get_data())
    assert len(zipped.get_data()) < len(plain.get_data())
    html = gzip.decompress(zipped.get_data()).decode()
    assert without_csrf(html) == without_csrf(plain.text) and "</html>" in html
    brotlied = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert brotlied.headers["Content-Encoding"] == "br"
    assert without_csrf(brotli.decompress(brotlied.get_data()).decode()) == without_csrf(
        plain.text)


def test_static_files_are_compressed_and_revalidate(client: FlaskClient) -> None:
    plain = client.get("/static/manyi.css").get_data()
    response = client.get("/static/manyi.css", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.get_data()) == plain
    etag = response.headers["ETag"]
    again = client.get("/static/manyi.css", headers={"Accept-Encoding": "gzip",
                                                      "If-None-Match": etag})
    assert again.status_code == 304


def test_small_responses_and_downloads_are_not_compressed(app: Flask,
                                                          client: FlaskClient) -> None:
    setup_demo(app, cities=1, responses=300)
    code = hospital_code(app)
    qr = client.get(f"/sites/{code}/qr", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in qr.headers  # SVG: not a compressed type
    login(client, "researcher@test.cn")
    form = {"csrf_token": re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"',
                                    client.get("/export/").text).group(1),  # type: ignore[union-attr]
            "questionnaire": "healthcare", "format": "csv", "text": "1"}
    download = client.post("/export/", data=form, headers={"Accept-Encoding": "gzip, br"})
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert "Content-Encoding" not in download.headers
    archive = zipfile.ZipFile(io.BytesIO(download.get_data()))
    assert archive.testzip() is None
    assert "manyi-healthcare-all-all.csv" in archive.namelist()


def hospital_code(app: Flask) -> str:
    with app.app_context():
        code = get_session().scalar(select(Site.code).where(Site.kind == "hospital")
                                    .order_by(Site.code))
    assert code
    return code


def test_agreeing_still_works_with_compression(app: Flask, client: FlaskClient) -> None:
    code = hospital(app)
    first = agree(client, "healthcare", code)
    page = client.get(first, headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert 'name="csrf_token"' in gzip.decompress(page.get_data()).decode()
