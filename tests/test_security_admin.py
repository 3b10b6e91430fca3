"""Admin pages: hidden without a sign-in, shown after the password (AppTest); a visitor sees and exports only
their own votes; password attempts are compared in constant time and rate-limited."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import app_environment, assert_page_ok
from streamlit.testing.v1 import AppTest

from recsys.serving.feedback import FeedbackLog
from recsys.ui import admin

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def app_env(tmp_path_factory):
    with app_environment(tmp_path_factory.mktemp("admin"), n_learners=200, n_courses=20) as env:
        log = FeedbackLog(env["artifacts"] / "feedback.sqlite")
        log.record_vote("other-session", "popularity", "abc", "OTHER1", "down", 1, dataset="fp")
        log.record_list("other-session", "popularity", "abc", ["OTHER1", "OTHER2"], dataset="fp")
        log.record_vote("my-session", "popularity", "abc", "MINE1", "up", 2, dataset="fp")
        yield env


def _app(monkeypatch, password: str | None) -> AppTest:
    monkeypatch.delenv(admin.EMAILS_ENV, raising=False)
    if password is None:
        monkeypatch.delenv(admin.PASSWORD_ENV, raising=False)
    else:
        monkeypatch.setenv(admin.PASSWORD_ENV, password)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


@pytest.mark.parametrize("password", [None, "short"])
def test_admin_pages_are_hidden_without_a_sign_in(app_env, monkeypatch, password):
    at = _app(monkeypatch, password)
    assert_page_ok(at)
    for page in ("views/feedback_admin.py", "views/run_history_admin.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)
    at.switch_page("views/my_feedback.py")
    at.run()
    assert_page_ok(at)


def test_admin_page_is_shown_after_the_password(app_env, monkeypatch):
    at = _app(monkeypatch, PASSWORD)
    at.switch_page("views/feedback_admin.py")
    at.run()
    assert_page_ok(at)
    assert not at.dataframe, "nothing of the log before signing in"
    at.text_input(key="admin_password").input("not the password")
    at.button(key="FormSubmitter:admin_sign_in-Sign in").click()
    at.run()
    assert [e.value for e in at.error] == ["Wrong password."] and not at.dataframe
    at.text_input(key="admin_password").input(PASSWORD)
    at.button(key="FormSubmitter:admin_sign_in-Sign in").click()
    at.run()
    assert not at.exception
    panel = at.dataframe[0].value
    assert panel["up"].sum() == 1 and panel["down"].sum() == 1, "the admin sees every session"
    at.switch_page("views/run_history_admin.py")
    at.run()
    assert_page_ok(at)
    assert any("No runs recorded yet" in i.value for i in at.info)


def test_a_visitor_sees_and_exports_only_their_own_votes(app_env, monkeypatch):
    at = _app(monkeypatch, None)
    at.session_state["feedback_session_id"] = "my-session"
    at.switch_page("views/my_feedback.py")
    at.run()
    assert_page_ok(at)
    shown = at.dataframe[0].value
    assert shown["course_id"].tolist() == ["MINE1"]
    log = FeedbackLog(app_env["artifacts"] / "feedback.sqlite")
    export = log.export_csv("my-session")
    assert "MINE1" in export and "OTHER1" not in export and "other-session" not in export
    at.button(key="fb_delete").click()
    at.run()
    assert log.votes("my-session").empty and len(log.votes("other-session")) == 1, "only their own was deleted"


def test_password_attempts_are_rate_limited_per_session_and_server_wide(monkeypatch):
    monkeypatch.setenv(admin.PASSWORD_ENV, PASSWORD)
    now = [1000.0]
    limiter = admin.AttemptLimiter(free=3, server_per_minute=10, clock=lambda: now[0])
    for _ in range(3):
        assert admin.try_password("guess", "s1", limiter) == (False, "Wrong password.")
    ok, message = admin.try_password(PASSWORD, "s1", limiter)
    assert not ok and "Too many failed attempts" in message, "even the right password waits"
    now[0] += 3
    assert admin.try_password(PASSWORD, "s1", limiter)[0]
    for i in range(10):  # new sessions do not reset the server-wide budget
        limiter.failed(f"attacker-{i}")
    assert "Too many" in admin.try_password(PASSWORD, "fresh", limiter)[1]
    now[0] += 61
    assert admin.try_password(PASSWORD, "fresh", limiter)[0]
    assert admin.password_matches(PASSWORD, PASSWORD) and not admin.password_matches(PASSWORD[:-1], PASSWORD)


def test_with_oidc_configured_the_admin_page_offers_streamlit_login(app_env, monkeypatch):
    """An [auth] section in secrets.toml switches the admin pages to st.login (the provider is never contacted
    until the button is pressed); not signed in, the page shows only the sign-in button."""
    monkeypatch.delenv(admin.PASSWORD_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8611/oauth2callback",
        "cookie_secret": "a long random cookie secret for this test",
        "client_id": "workbench",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://idp.example.invalid/.well-known/openid-configuration",
    }
    at.run()
    at.switch_page("views/feedback_admin.py")
    at.run()
    assert_page_ok(at)
    assert at.button(key="admin_login").label == "Sign in" and not at.dataframe
