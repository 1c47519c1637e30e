"""Secrets in, never out: read a token strictly, take credentials out of URLs, and scrub every
secret we hold from any text that reaches the user (our own messages and a server's answers).

A token becomes an HTTP header, so a value requests would refuse (a second line, a non-Latin-1
character) is rejected here, before any request, with a message that never contains it.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from gen.errors import UserError

MASK = "***"


def read_secret(path: Path | None, env_var: str, what: str) -> str | None:
    """A secret from a file (first) or an environment variable: one line, surrounding white space
    stripped, printable ASCII only. Its value is never part of a message."""
    if path is not None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise UserError(f"{path}: cannot read the {what} file: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{path}: the {what} file is not UTF-8 text") from None
        value = _one_value(text, f"{path}: the {what} file")
        if value is None:
            raise UserError(f"{path}: the {what} file is empty")
        return register(value)
    value = _one_value(os.environ.get(env_var) or "", f"{env_var}")
    return register(value) if value else None


def _one_value(text: str, where: str) -> str | None:
    lines = [line.strip() for line in text.strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    if len(lines) > 1:
        raise UserError(f"{where} holds {len(lines)} lines; it must hold exactly one value")
    value = lines[0]
    if any(ch.isspace() for ch in value):
        raise UserError(f"{where} holds white space inside the value; a token is one word")
    bad = next((ch for ch in value if not (0x21 <= ord(ch) <= 0x7E)), None)
    if bad is not None:
        # HTTP header values are Latin-1 at best; tokens are printable ASCII. Name the position,
        # not the character: the secret must not leak even in part.
        position = value.index(bad) + 1
        raise UserError(f"{where} holds a character that is not printable ASCII (at position {position}); "
                        "an HTTP credential cannot carry it")
    return value


def check_url(url: str, option: str) -> str:
    """An http(s) URL with a host, or a usage error at once (not retries against nothing)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise UserError(f"{option}: {redact_url(url)!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        hint = f"; did you mean http://{url.strip()}?" if not parts.scheme or "://" not in url else ""
        raise UserError(f"{option}: {redact_url(url)!r} must start with http:// or https://{hint}")
    if not parts.hostname:
        raise UserError(f"{option}: {redact_url(url)!r} has no host")
    return url.strip()


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without its user:password part, and that part (registered as secrets)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    register(password)
    register(parts.password or "")
    return urlunsplit(_without_userinfo(parts)), (user, password)


def redact_url(url: str) -> str:
    """The URL as it may be shown: any user:password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))


def _without_userinfo(parts: SplitResult) -> SplitResult:
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])


# Every secret this process holds, so that scrub() can remove it from anything shown.
_SECRETS: set[str] = set()
_LOCK = threading.Lock()
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


def register(secret: str | None) -> str | None:
    """Remember a secret (and the forms it travels in) so that scrub() removes it everywhere."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        with _LOCK:
            _SECRETS.add(secret)
    return secret


def register_basic(user: str, password: str) -> None:
    register(password)
    register(base64.b64encode(f"{user}:{password}".encode("latin-1", "replace")).decode("ascii"))


def scrub(text: str) -> str:
    """`text` with every registered secret, and any URL userinfo, replaced by ***."""
    if not text:
        return text
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "@" in text and "://" in text:
        text = " ".join(redact_url(word) if "://" in word and "@" in word else word for word in text.split(" "))
    return text
