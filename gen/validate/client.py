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
    # Extra request headers (a tenant's X-Scope-OrgID for Mimir, Cortex, VictoriaMetrics cluster);
    # their values are secrets too.
    headers: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        kind = "bearer" if self.bearer_token else "basic" if self.basic else "none"
        names = ", ".join(name for name, _ in self.headers)
        return f"Auth({kind}{'; headers: ' + names if names else ''})"


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers the client sets itself; overriding them would break the requests.
_RESERVED_HEADERS = {"host", "content-length", "content-type", "accept-encoding", "connection", "authorization"}


def parse_headers(values: list[str]) -> tuple[tuple[str, str], ...]:
    """--header NAME=VALUE options. A mistake names the option by position and the header by
    name, never the value, which may be a secret; every value is registered as one, so nothing
    this process prints carries it (gen.secrets.scrub)."""
    from gen.secrets import register

    headers = []
    for index, value in enumerate(values, start=1):
        name, sep, content = value.partition("=")
        name, content = name.strip(), content.strip()
        if not sep or not name:
            raise UserError(f"--header #{index}: expected NAME=VALUE (for example X-Scope-OrgID=team-a)")
        if not _HEADER_NAME.match(name):
            raise UserError(f"--header #{index}: '{name}' is not a valid HTTP header name")
        if name.lower() in _RESERVED_HEADERS:
            hint = "; use --bearer-token-file or --basic-auth-user" if name.lower() == "authorization" else ""
            raise UserError(f"--header #{index}: '{name}' is set by gen itself and cannot be given here{hint}")
        if not content or any(not (0x20 <= ord(ch) <= 0x7E) for ch in content):
            raise UserError(f"--header #{index}: the value of '{name}' is empty or not printable ASCII")
        register(content)
        headers.append((name, content))
    return tuple(headers)


class QueryError(Exception):
    """Prometheus answered, but refused the query (bad PromQL, timeout, ...)."""


class PrometheusClient:
    def __init__(self, url: str, auth: Auth | None = None, ca_cert: str | None = None, insecure: bool = False,
                 timeout: float = 30.0, retry_unavailable: bool = True):
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        from gen.secrets import redact_url

        self.url = url.rstrip("/")
        self.shown = redact_url(self.url)  # for messages: never the credentials
        self.timeout = timeout
        auth = auth or Auth()
        # A path prefix in the URL is kept and the API paths are appended to it: VictoriaMetrics
        # cluster serves /select/<tenant>/prometheus/api/v1/..., Mimir /prometheus/api/v1/....
        self._headers = dict(auth.headers)
        if auth.bearer_token:
            self._headers["Authorization"] = f"Bearer {auth.bearer_token}"
        self._auth = auth.basic
        self.session = requests.Session()
        self.session.verify = ca_cert if ca_cert else not insecure
        # Prometheus answers 503 to a query that ran out of time (errorType timeout): retrying the
        # same query waits the same minutes again. A caller that splits such a query instead (the
        # backtest) asks for the 503 itself, with its body.
        statuses = (502, 503, 504) if retry_unavailable else (502, 504)
        retry = Retry(total=2, connect=2, read=1, backoff_factor=0.2, status_forcelist=statuses,
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
            raise UserError(f"{self.shown}: TLS verification failed ({_reason(exc)}); pass --ca-cert FILE") from None
        except requests.exceptions.RequestException as exc:
            raise UserError(f"{self.shown}: Prometheus is unreachable: {_reason(exc)}") from None
        if response.status_code in (401, 403):
            raise UserError(f"{self.shown}: Prometheus answered {response.status_code}: check the credentials "
                            "(--bearer-token-file, PROMETHEUS_TOKEN, --basic-auth-user with PROMETHEUS_PASSWORD; "
                            "--header for a tenant header such as X-Scope-OrgID)")
        if response.status_code != 200:
            raise QueryError(f"HTTP {response.status_code}: {_body(response)}")
        try:
            document = response.json()
        except ValueError:
            raise UserError(f"{self.shown}: not a Prometheus API (the answer to {path} is not JSON)") from None
        if not isinstance(document, dict) or "data" not in document:
            raise UserError(f"{self.shown}: not a Prometheus API (the answer to {path} has no 'data' field)")
        return document["data"]

    def probe(self) -> None:
        """Exit 2 early, with one line, when the server is unreachable, refuses us, or is not a
        Prometheus API (a wrong path prefix is the usual cause)."""
        try:
            data = self._get("/api/v1/query", {"query": "1"})
        except QueryError as exc:
            status = str(exc).split(":", 1)[0]
            if status == "HTTP 404":
                raise UserError(
                    f"{self.shown}: {self.shown}/api/v1/query is not found (404): is a path prefix missing from "
                    "--prometheus-url (e.g. /prometheus for Mimir, /select/0/prometheus for VictoriaMetrics "
                    "cluster), or is this not a Prometheus API?") from None
            raise UserError(f"{self.shown}: the test query failed with {exc}; the server is not healthy") from None
        if not isinstance(data, dict) or data.get("resultType") not in ("scalar", "vector") \
                or not isinstance(data.get("result"), (list, tuple)):
            raise UserError(f"{self.shown}: not a Prometheus API: the answer to the query '1' has the wrong shape")

    def query(self, expr: str) -> list[dict]:
        return self._series(self._call(lambda: self.prom.custom_query(expr)), "value")

    def query_at(self, expr: str, at: float) -> list[dict]:
        """An instant query at a fixed Unix time."""
        return self._series(self._call(lambda: self.prom.custom_query(expr, params={"time": f"{at:.3f}"})), "value")

    def query_range(self, expr: str, seconds: float, step: float) -> list[dict]:
        end = dt.datetime.now(dt.timezone.utc)
        start = end - dt.timedelta(seconds=seconds)
        return self._series(self._call(lambda: self.prom.custom_query_range(expr, start, end, f"{max(int(step), 1)}s")),
                            "values")

    def _series(self, result: Any, field: str) -> list[dict]:
        """A query's result, checked: every caller reads s["metric"] and s[field] without fear."""
        if isinstance(result, list) and all(
                isinstance(s, dict) and isinstance(s.get("metric"), dict) and isinstance(s.get(field), list)
                for s in result):
            return result
        if field == "value" and isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
            return [{"metric": {}, "value": result}]  # a scalar answer
        raise UserError(f"{self.shown}: not a Prometheus API: a query answer has the wrong shape "
                        f"(expected a list of series with 'metric' and '{field}')")

    def query_range_between(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        """A range query over fixed Unix times (whole seconds), for replays that must be repeatable."""
        begin = dt.datetime.fromtimestamp(start, dt.timezone.utc)
        until = dt.datetime.fromtimestamp(end, dt.timezone.utc)
        return self._series(
            self._call(lambda: self.prom.custom_query_range(expr, begin, until, f"{max(int(step), 1)}s")), "values")

    def label_values(self, label: str, selector: str, seconds: float) -> list[str]:
        import time

        params = {"start": f"{time.time() - seconds:.0f}", "end": f"{time.time():.0f}"}
        if selector:
            params["match[]"] = selector
        data = self._call(lambda: self._get(f"/api/v1/label/{label}/values", params))
        return [str(value) for value in data] if isinstance(data, list) else []

    def metadata(self) -> dict[str, list[dict]]:
        try:
            data = self._get("/api/v1/metadata")
        except QueryError:
            return {}
        return data if isinstance(data, dict) else {}

    def targets(self) -> list[dict]:
        try:
            data = self._get("/api/v1/targets", {"state": "active"})
        except QueryError:
            return []
        targets = data.get("activeTargets") if isinstance(data, dict) else None
        return [t for t in targets if isinstance(t, dict)] if isinstance(targets, list) else []

    def started_at(self) -> float | None:
        """When the server started (Prometheus' runtime info), in Unix seconds; None if unknown."""
        import datetime as dt
        import re

        try:
            info = self._get("/api/v1/status/runtimeinfo")
            text = str((info or {}).get("startTime") or "")
            # RFC 3339 with nanoseconds (Go): Python reads at most microseconds.
            text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
            return dt.datetime.fromisoformat(text).timestamp()
        except (QueryError, UserError, ValueError, AttributeError):
            return None

    def retention(self) -> tuple[str | None, str]:
        """How long the server keeps samples, as it says it ("10d"), and where that was read; or
        None and why it is not known. Prometheus: runtime info (storageRetention, "15d or 50GiB")
        or its flags; VictoriaMetrics: -retentionPeriod on /flags (a bare number is months)."""
        import requests

        try:
            info = self._get("/api/v1/status/runtimeinfo")
            if isinstance(info, dict) and info.get("storageRetention"):
                return str(info["storageRetention"]), "/api/v1/status/runtimeinfo storageRetention"
        except (QueryError, UserError):
            pass
        try:
            flags = self._get("/api/v1/status/flags")
            if isinstance(flags, dict) and flags.get("storage.tsdb.retention.time") not in (None, "", "0s"):
                return str(flags["storage.tsdb.retention.time"]), "/api/v1/status/flags storage.tsdb.retention.time"
        except (QueryError, UserError):
            pass
        # VictoriaMetrics: /flags lists only the flags that were set; its own /metrics has them all.
        # Behind a path prefix (vmselect, a global view) these are not the storage's: not asked.
        import re
        from urllib.parse import urlsplit

        if urlsplit(self.url).path.strip("/"):
            return None, "behind a path prefix, the storage's retention is not visible to its query API"

        for path, pattern in (("/flags", r'^-retentionPeriod="?([^"\s]+)"?$'),
                              ("/metrics", r'^flag\{name="retentionPeriod", value="([^"]+)"')):
            try:
                response = self.session.get(self.url + path, headers=self._headers, auth=self._auth,
                                            timeout=self.timeout, verify=self.session.verify)
            except requests.exceptions.RequestException as exc:
                return None, f"{path} unreachable ({_reason(exc)})"
            if response.status_code != 200:
                continue
            found = re.search(pattern, response.text, re.M)
            if found:
                value = found.group(1)
                return (f"{value}M" if value.isdigit() else value), f"{path} retentionPeriod (VictoriaMetrics)"
        return None, "the server says it neither in its runtime info, its flags, /flags nor /metrics"

    def rules(self) -> list[dict]:
        """The rule groups Prometheus has loaded, with each rule's health and last error."""
        return (self._get("/api/v1/rules") or {}).get("groups") or []

    def alerts(self) -> list[dict]:
        """The alerts pending or firing now."""
        return (self._get("/api/v1/alerts") or {}).get("alerts") or []

    def _call(self, fn):
        import requests
        from prometheus_api_client import PrometheusApiClientException

        try:
            return fn()
        except PrometheusApiClientException as exc:
            raise QueryError(_short(str(exc))) from None
        except requests.exceptions.Timeout:
            raise QueryError(f"timed out after {self.timeout:g}s") from None
        except requests.exceptions.RequestException as exc:
            raise QueryError(_reason(exc)) from None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # prometheus-api-client reads the answer's fields without checking them.
            raise UserError(f"{self.shown}: not a Prometheus API: an answer has the wrong shape "
                            f"({type(exc).__name__}: {_short(str(exc), 80)})") from None


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
    from gen.secrets import scrub

    text = scrub(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
