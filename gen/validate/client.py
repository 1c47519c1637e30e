"""A Prometheus-compatible API (Prometheus, VictoriaMetrics, Thanos, Mimir) through
prometheus-api-client, with authentication, TLS and timeouts set once."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from gen.errors import UserError


@dataclass(frozen=True)
class Auth:
    bearer_token: str | None = None
    basic: tuple[str, str] | None = None
    # Extra request headers (tenant headers such as X-Scope-OrgID); their values are secrets too.
    headers: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        kind = "bearer" if self.bearer_token else "basic" if self.basic else "none"
        names = ", ".join(name for name, _ in self.headers)
        return f"Auth({kind}{'; headers: ' + names if names else ''})"

    def secrets(self) -> list[str]:
        values = [self.bearer_token, self.basic[1] if self.basic else None, *(v for _, v in self.headers)]
        return [v for v in values if v]


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers the client sets itself; overriding them would break the requests.
_RESERVED_HEADERS = {"host", "content-length", "content-type", "accept-encoding", "connection"}


def parse_headers(values: list[str]) -> tuple[tuple[str, str], ...]:
    """--header NAME=VALUE options. A mistake names the option by position and the header by
    name, never by value: the value may be a secret."""
    headers = []
    for index, value in enumerate(values, start=1):
        name, sep, content = value.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--header #{index}: expected NAME=VALUE (for example X-Scope-OrgID=team-a)")
        if not _HEADER_NAME.match(name):
            raise UserError(f"--header #{index}: '{name}' is not a valid HTTP header name")
        if name.lower() in _RESERVED_HEADERS:
            raise UserError(f"--header #{index}: '{name}' is set by gen itself and cannot be overridden")
        if not content or any(c in content for c in "\r\n\0"):
            raise UserError(f"--header #{index}: the value of '{name}' is empty or holds a line break")
        headers.append((name, content))
    return tuple(headers)


def public_url(url: str) -> str:
    """The URL as it may be printed: without user:password@ and without a query string."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")).rstrip("/")


def redact(text: str, secrets: list[str]) -> str:
    """A server may echo a header back in an error (a tenant id, a token): never print it."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class QueryError(Exception):
    """Prometheus answered, but refused the query (bad PromQL, timeout, ...)."""


class PrometheusClient:
    def __init__(self, url: str, auth: Auth | None = None, ca_cert: str | None = None, insecure: bool = False,
                 timeout: float = 30.0):
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        # A path prefix is kept: VictoriaMetrics cluster serves /select/<tenant>/prometheus/api/v1/...,
        # Mimir /prometheus/api/v1/..., and the API paths are appended to it.
        self.url = url.rstrip("/")
        self.shown = public_url(url)
        self.timeout = timeout
        auth = auth or Auth()
        from urllib.parse import urlsplit

        self._secrets = auth.secrets() + [p for p in (urlsplit(url).password, urlsplit(url).query) if p]
        self._headers = dict(auth.headers)
        if auth.bearer_token:
            self._headers["Authorization"] = f"Bearer {auth.bearer_token}"
        self._auth = auth.basic
        self.session = requests.Session()
        self.session.verify = ca_cert if ca_cert else not insecure
        retry = Retry(total=2, connect=2, read=1, backoff_factor=0.2, status_forcelist=(502, 503, 504),
                      allowed_methods=frozenset({"GET", "POST"}))
        self.prom = PrometheusConnect(url=self.url, headers=self._headers or None, auth=self._auth,
                                      session=self.session, retry=retry, timeout=timeout)

    def _get(self, path: str, params: dict | None = None) -> Any:
        import requests

        try:
            # verify passed on every request: a session's verify loses to REQUESTS_CA_BUNDLE.
            response = self.session.get(self.url + path, params=params, headers=self._headers, auth=self._auth,
                                        timeout=self.timeout, verify=self.session.verify)
        except requests.exceptions.SSLError as exc:
            raise UserError(f"{self.shown}: TLS verification failed ({self._redact(_reason(exc))}); "
                            "pass --ca-cert FILE") from None
        except requests.exceptions.RequestException as exc:
            raise UserError(f"{self.shown}: Prometheus is unreachable: {self._redact(_reason(exc))}") from None
        if response.status_code in (401, 403):
            raise UserError(f"{self.shown}: Prometheus answered {response.status_code}: check the credentials "
                            "(--bearer-token-file, PROMETHEUS_TOKEN, --basic-auth-user with PROMETHEUS_PASSWORD, "
                            "--header for a tenant)")
        if response.status_code == 404 and path == "/api/v1/query":
            raise UserError(f"{self.shown}: no Prometheus API here ({path} answered 404): check the URL's path "
                            "prefix (VictoriaMetrics cluster: /select/<tenant>/prometheus, Mimir: /prometheus)")
        if response.status_code != 200:
            raise QueryError(self._redact(f"HTTP {response.status_code}: {_body(response)}"))
        try:
            return response.json().get("data")
        except ValueError:
            raise UserError(f"{self.shown}: not a Prometheus API (answer to {path} is not JSON)") from None

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def probe(self) -> None:
        """Exit 2 early, with one line, when the server is unreachable or refuses us."""
        self._get("/api/v1/query", {"query": "1"})

    def query(self, expr: str) -> list[dict]:
        return self._call(lambda: self.prom.custom_query(expr))

    def query_range(self, expr: str, seconds: float, step: float) -> list[dict]:
        end = dt.datetime.now(dt.timezone.utc)
        start = end - dt.timedelta(seconds=seconds)
        return self._call(lambda: self.prom.custom_query_range(expr, start, end, f"{max(int(step), 1)}s"))

    def label_values(self, label: str, selector: str, seconds: float) -> list[str]:
        import time

        params = {"start": f"{time.time() - seconds:.0f}", "end": f"{time.time():.0f}"}
        if selector:
            params["match[]"] = selector
        data = self._call(lambda: self._get(f"/api/v1/label/{label}/values", params))
        return list(data or [])

    def metadata(self) -> dict[str, list[dict]]:
        try:
            return self._get("/api/v1/metadata") or {}
        except QueryError:
            return {}

    def targets(self) -> list[dict]:
        try:
            return (self._get("/api/v1/targets", {"state": "active"}) or {}).get("activeTargets") or []
        except QueryError:
            return []

    def _call(self, fn):
        import requests
        from prometheus_api_client import PrometheusApiClientException

        try:
            return fn()
        except PrometheusApiClientException as exc:
            raise QueryError(self._redact(_short(str(exc)))) from None
        except requests.exceptions.Timeout:
            raise QueryError(f"timed out after {self.timeout:g}s") from None
        except requests.exceptions.RequestException as exc:
            raise QueryError(self._redact(_reason(exc))) from None


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return _short(text.strip("()'\" "))


def _body(response) -> str:
    try:
        return _short(response.json().get("error") or response.text)
    except ValueError:
        return _short(response.text)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
