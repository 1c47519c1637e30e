"""A small JSON-over-HTTP client for the servers the doctor reads directly (Triton, its metrics
port): short timeouts, no retries (a doctor reports what it sees), one-line errors."""

from __future__ import annotations

from typing import Any


class Unreachable(Exception):
    """No answer at all: connection refused, DNS, timeout, TLS."""


class HttpAnswer:
    def __init__(self, status: int, text: str, seconds: float):
        self.status, self.text, self.seconds = status, text, seconds

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.text)
        except ValueError:
            return None

    def error(self) -> str:
        """The server's own error text: Triton answers {"error": "..."}."""
        body = self.json()
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])
        return self.text.strip() or f"HTTP {self.status}"


class HttpClient:
    def __init__(self, url: str, timeout: float, ca_cert: str | None = None, insecure: bool = False):
        import requests

        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = ca_cert if ca_cert else not insecure

    def call(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> HttpAnswer:
        import time

        import requests

        started = time.monotonic()
        try:
            response = self.session.request(method, self.url + path, json=body, timeout=timeout or self.timeout,
                                            verify=self.session.verify)
        except requests.exceptions.RequestException as exc:
            raise Unreachable(short_reason(exc)) from None
        return HttpAnswer(response.status_code, response.text, time.monotonic() - started)


def short_reason(exc: Exception, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = text.strip("()'\" ")
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text[:limit]
