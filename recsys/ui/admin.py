"""Who may open the admin pages (every session's feedback, its export, run-history administration).

Why: the app is served to people who must not see each other's data. Three set-ups, checked in this order:

1. Streamlit's own login (`st.login`, OpenID Connect through Authlib) when `.streamlit/secrets.toml` has an
   `[auth]` section. Any account the provider lets in is an admin, unless $RECSYS_ADMIN_EMAILS (comma-separated)
   names the admins.
2. Otherwise an admin password in $RECSYS_ADMIN_PASSWORD (at least MIN_PASSWORD characters; a shorter one is
   ignored and logged). It is compared in constant time, and failed attempts are rate-limited per session and
   for the whole server (a new browser session does not reset the server-wide budget).
3. With neither, the admin pages are not in the navigation at all, and opening one by its file says so.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

import streamlit as st

log = logging.getLogger("recsys.ui")
PASSWORD_ENV = "RECSYS_ADMIN_PASSWORD"
EMAILS_ENV = "RECSYS_ADMIN_EMAILS"
MIN_PASSWORD = 12
SESSION_KEY = "admin_signed_in"


# ----- configuration -------------------------------------------------------------------------------
def oidc_provider() -> str | None:
    """'' for the default `[auth]` provider, the provider's name for `[auth.<name>]`, None when not configured."""
    try:
        auth = st.secrets.get("auth") if "auth" in st.secrets else None
    except Exception:  # no secrets.toml at all, or one that does not parse
        return None
    if not hasattr(auth, "get") or not auth.get("redirect_uri") or not auth.get("cookie_secret"):
        return None
    if auth.get("client_id"):
        return ""
    named = [name for name, value in auth.items() if hasattr(value, "get") and value.get("client_id")]
    return named[0] if named else None


def admin_password() -> str | None:
    """The configured admin password, or None (unset, or too short to be one)."""
    value = os.environ.get(PASSWORD_ENV) or ""
    if not value:
        return None
    if len(value) < MIN_PASSWORD:
        log.warning(
            "%s is shorter than %d characters: ignored, the admin pages stay hidden", PASSWORD_ENV, MIN_PASSWORD
        )
        return None
    return value


def mode() -> str | None:
    """'oidc', 'password' or None (the admin pages are hidden)."""
    if oidc_provider() is not None:
        return "oidc"
    if admin_password() is not None:
        return "password"
    return None


def is_admin() -> bool:
    """True for a signed-in admin of this session."""
    how = mode()
    if how == "oidc":
        user = st.user
        if not getattr(user, "is_logged_in", False):
            return False
        allowed = [e.strip().casefold() for e in os.environ.get(EMAILS_ENV, "").split(",") if e.strip()]
        return not allowed or str(user.get("email") or "").casefold() in allowed
    if how == "password":
        return bool(st.session_state.get(SESSION_KEY))
    return False


# ----- password checks -----------------------------------------------------------------------------
def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison (of digests, so the length of the password does not leak either)."""
    a = hashlib.sha256(str(given).encode("utf-8", "replace")).digest()
    b = hashlib.sha256(str(expected).encode("utf-8", "replace")).digest()
    return hmac.compare_digest(a, b)


class AttemptLimiter:
    """Failed sign-ins: after `free` failures a session waits 2, 4, 8, ... seconds (at most `max_wait`) before
    the next try, and the whole server accepts at most `server_per_minute` failures a minute."""

    def __init__(
        self,
        free: int = 3,
        max_wait: float = 900.0,
        server_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.free, self.max_wait, self.server_per_minute, self.clock = free, max_wait, server_per_minute, clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self, who: str) -> float:
        """Seconds before `who` may try again (0 = now)."""
        now = self.clock()
        with self._lock:
            while self._recent and now - self._recent[0] > 60:
                self._recent.popleft()
            server = 60 - (now - self._recent[0]) if len(self._recent) >= self.server_per_minute else 0.0
            count, last = self._failures.get(who, (0, 0.0))
            own = 0.0
            if count >= self.free:
                own = min(self.max_wait, 2.0 ** (count - self.free + 1)) - (now - last)
            return max(0.0, own, server)

    def failed(self, who: str) -> None:
        now = self.clock()
        with self._lock:
            count, _ = self._failures.get(who, (0, 0.0))
            self._failures[who] = (count + 1, now)
            self._recent.append(now)
            if len(self._failures) > 10_000:  # bounded memory: forget the oldest sessions
                for key in sorted(self._failures, key=lambda k: self._failures[k][1])[:5_000]:
                    del self._failures[key]

    def succeeded(self, who: str) -> None:
        with self._lock:
            self._failures.pop(who, None)


LIMITER = AttemptLimiter()  # one per server process: shared by every session


def try_password(given: str, who: str, limiter: AttemptLimiter = LIMITER) -> tuple[bool, str]:
    """(signed in?, message) for one attempt of session `who`."""
    expected = admin_password()
    if expected is None:
        return False, "No admin password is configured on this server."
    wait = limiter.wait(who)
    if wait > 0:
        return False, f"Too many failed attempts: try again in {int(wait) + 1} s."
    if password_matches(given, expected):
        limiter.succeeded(who)
        return True, "Signed in as admin."
    limiter.failed(who)
    log.warning("failed admin sign-in attempt")
    return False, "Wrong password."


# ----- the gate on every admin page ----------------------------------------------------------------
def _session_key() -> str:
    from recsys.ui.feedback_log import session_id

    return session_id()


def gate(title: str) -> bool:
    """Draw the sign-in for an admin page; True when the visitor is an admin and the page may render."""
    how = mode()
    if how is None:
        st.title(title)
        st.info(
            "This admin page is switched off: the server has no sign-in configured (an `[auth]` section in "
            f"`.streamlit/secrets.toml`, or `{PASSWORD_ENV}`).",
            icon=":material/lock:",
        )
        return False
    if is_admin():
        _sign_out_button(how)
        return True
    st.title(title)
    st.caption("Admins only: every session's data is on this page.")
    if how == "oidc":
        provider = oidc_provider()
        if getattr(st.user, "is_logged_in", False):
            st.warning("This account is not an admin of this server.", icon=":material/block:")
            st.button("Sign out", on_click=st.logout, key="admin_logout")
        else:
            st.button(
                "Sign in", type="primary", key="admin_login", on_click=st.login, args=(provider,) if provider else ()
            )
        return False
    with st.form("admin_sign_in", clear_on_submit=True):
        given = st.text_input("Admin password", type="password", key="admin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        ok, message = try_password(given, _session_key())
        if ok:
            st.session_state[SESSION_KEY] = True
            st.rerun()
        st.error(message, icon=":material/lock:")
    return False


def _sign_out_button(how: str) -> None:
    with st.sidebar:
        if how == "oidc":
            st.button("Sign out (admin)", on_click=st.logout, key="admin_logout")
        elif st.button("Sign out (admin)", key="admin_logout"):
            st.session_state.pop(SESSION_KEY, None)
            st.rerun()
