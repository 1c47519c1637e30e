"""Grafana's HTTP API with timeouts, retries and errors that name the dashboard, never the token.

Retried, with exponential backoff and full jitter: connection errors, timeouts, 429 (waiting
what Retry-After asks, capped) and 5xx. Never retried: other 4xx, which a retry cannot fix.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable

from gen.errors import UserError
from gen.secrets import scrub

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 30.0
NOTICE_AFTER_S = 2.0  # a shorter wait goes unmentioned


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    basic: tuple[str, str] | None = None

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        return f"Credentials({'token' if self.token else 'basic' if self.basic else 'none'})"


class GrafanaError(Exception):
    def __init__(self, status: int | None, message: str, api_status: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.api_status = api_status  # Grafana's "status" field: version-mismatch, name-exists, ...


@dataclass
class Counters:
    requests: int = 0
    writes: int = 0
    retries: int = 0


class GrafanaClient:
    def __init__(self, url: str, credentials: Credentials, ca_cert: str | None = None, insecure: bool = False,
                 timeout: float = 30.0, retries: int = 5, backoff_s: float = 0.5, pool: int = 8,
                 notice: Callable[[str, bool], None] | None = None):
        import requests
        from requests.adapters import HTTPAdapter

        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff_s = backoff_s
        # notice(line, lasting): a line for the user as a retry waits. Lasting: a long Retry-After,
        # worth a line of its own in any log; the others are progress, for a terminal.
        self.notice = notice
        self.session = requests.Session()
        # The environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) is read once here: requests
        # would read it again on every request, which costs more CPU than the rest of a push.
        self.session.trust_env = False
        self.session.proxies.update(requests.utils.get_environ_proxies(self.url))
        default_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self.session.verify = ca_cert if ca_cert else (False if insecure else default_bundle or True)
        adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if credentials.token:
            self.session.headers["Authorization"] = f"Bearer {credentials.token}"
        elif credentials.basic:
            self.session.auth = credentials.basic
        self.session.headers["Accept"] = "application/json"
        self.counters = Counters()
        self._lock = threading.Lock()

    def request(self, method: str, path: str, what: str, json_body: Any = None, params: dict | None = None) -> Any:
        """The decoded JSON answer; GrafanaError for an answer that is not 2xx; UserError when the
        server stays unreachable. `what` names the object for messages."""
        import requests

        attempt = 0
        while True:
            with self._lock:
                self.counters.requests += 1
                if method != "GET":
                    self.counters.writes += 1
            try:
                # verify passed on every request: a session's verify loses to REQUESTS_CA_BUNDLE.
                response = self.session.request(method, self.url + path, json=json_body, params=params,
                                                timeout=self.timeout, verify=self.session.verify)
            except requests.exceptions.SSLError as exc:
                raise UserError(f"{self.url}: TLS verification failed ({_short(exc)}); pass --ca-cert FILE or --insecure") from None
            except requests.exceptions.RequestException as exc:
                if attempt >= self.retries:
                    raise UserError(f"{self.url}: Grafana is unreachable after {attempt + 1} attempts ({what}): "
                                    f"{_short(exc)}") from None
                self._wait(attempt, None, f"{what}: Grafana unreachable ({_short(exc)})")
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                self._wait(attempt, response.headers.get("Retry-After"), f"{what}: Grafana answered {response.status_code}")
                attempt += 1
                continue
            if 200 <= response.status_code < 300:
                try:
                    return response.json()
                except ValueError:
                    raise GrafanaError(response.status_code, f"{what}: the answer is not JSON") from None
            raise self._error(response, what)

    def _wait(self, attempt: int, retry_after: str | None, why: str = "") -> None:
        with self._lock:
            self.counters.retries += 1
        delay = _retry_after_seconds(retry_after)
        if delay is None:
            # Full jitter: concurrent clients do not retry in lock-step.
            delay = random.uniform(0, self.backoff_s * (2 ** attempt))
        delay = min(delay, MAX_RETRY_AFTER_S)
        if self.notice:
            # Every retry is said as it happens: a push that seems stuck is waiting, and on what.
            if retry_after and delay >= NOTICE_AFTER_S:
                self.notice(f"{why or 'Grafana is busy'}: waiting {delay:.0f}s as its Retry-After asks, "
                            f"before retry {attempt + 1} of {self.retries}", True)
            else:
                self.notice(f"{why or 'Grafana is busy'}: retry {attempt + 1} of {self.retries} in {delay:.1f}s",
                            False)
        time.sleep(delay)

    def _error(self, response, what: str) -> GrafanaError:
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text}
        if not isinstance(body, dict):
            body = {"message": response.text}
        # A server may echo our own request (Authorization header included) in its error body.
        message = scrub(" ".join(str(body.get("message") or response.reason or "").split()))[:300]
        # Legacy API: {"status": "version-mismatch"}; resource API: a Kubernetes Status whose
        # "status" is only "Failure" and whose "reason" says what happened (Conflict, Invalid, ...).
        api_status = str((body.get("reason") if body.get("kind") == "Status" else body.get("status")) or "")
        code = response.status_code
        explain = {
            401: "Grafana refused the credentials (401): check GRAFANA_TOKEN or --token-file",
            403: "the token lacks permission (403): the service account needs the Editor role",
            404: f"not found (404): {message}",
            409: f"conflict (409 {api_status or 'Conflict'}): {message}",
            412: f"precondition failed (412, {api_status or 'conflict'}): {message}",
            422: f"Grafana refused it as invalid (422): {message}",
            413: "Grafana refused the request as too large (413): raise its max request size or split the dashboard",
        }.get(code, f"Grafana answered {code}: {message}")
        return GrafanaError(code, scrub(f"{what}: {explain}"), api_status)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _short(exc: Exception, limit: int = 160) -> str:
    text = scrub(" ".join(str(exc).split()))
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip("()'\" ")[:limit]
