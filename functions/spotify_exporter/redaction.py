"""Secrets never leave the process inside a message: one place knows them and takes them out.

Servers and proxies echo requests in their error bodies (the bearer token, the token form with
the refresh token, the Basic header with the client secret), and such a body may end up in an
error message. So every secret value is remembered here as soon as the exporter holds it
(:func:`remember`: client secret, refresh and access tokens, the Basic credential, authorization
codes and PKCE verifiers), and :func:`redact` replaces each one in any text. It is applied where
text leaves: the message of every :class:`~spotify_exporter.errors.ExporterError` (so manifests,
summaries, the CLI's ``error:`` line and Azure's exceptions), the exporter's log records, and the
manifest's warnings.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
#: shorter values are not taken for secrets (they would blank out ordinary words)
MIN_SECRET_LENGTH = 8

_known: set[str] = set()
_lock = threading.Lock()


def remember(*values: str | None) -> None:
    """Treat these values (and their URL-encoded forms) as secrets from now on."""
    forms = set()
    for value in values:
        if value and len(value) >= MIN_SECRET_LENGTH:
            forms.update({value, quote(value, safe=""), quote_plus(value)})
    if forms:
        with _lock:
            _known.update(forms)


def remember_basic_credential(user: str, password: str) -> None:
    """The ``Authorization: Basic`` value requests builds from a client id and secret."""
    remember(password)
    for encoding in ("latin-1", "utf-8"):
        try:
            remember(base64.b64encode(f"{user}:{password}".encode(encoding)).decode("ascii"))
        except UnicodeEncodeError:
            continue


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``[redacted]`` (longest first)."""
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RewritingFilter(logging.Filter):
    """Passes every log record's message through ``rewrite`` (it never drops a record)."""

    def __init__(self, rewrite: Callable[[str], str]) -> None:
        super().__init__()
        self.rewrite = rewrite

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        rewritten = self.rewrite(message)
        if rewritten != message:
            record.msg, record.args = rewritten, None
        return True


def _install() -> None:
    """Every record the exporter logs (``logging.getLogger("spotify_exporter")``) loses its secrets."""
    logger = logging.getLogger("spotify_exporter")
    if not any(isinstance(existing, RewritingFilter) and existing.rewrite is redact for existing in logger.filters):
        logger.addFilter(RewritingFilter(redact))


_install()
