"""HTTP to the gateway over urllib: the API key, an Idempotency-Key on every POST (one per logical
request, the same on each of its retries, so a retried upload or submission is never done twice), and
retries with exponential backoff and jitter for what a retry can fix — the gateway unreachable or
restarting (connection errors, 502, 503, 504), rate limits (429) and a first copy still in flight (409
``idempotency_in_flight``) — honouring ``Retry-After``. Every other non-2xx answer is a DiffdaError.
"""

from __future__ import annotations

import email.utils
import http.client
import io
import json
import logging
import os
import random
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, Mapping, Optional, Union

from .errors import DiffdaError

log = logging.getLogger("diffda")

USER_AGENT = "diffda-python/0.1.0"
RETRY_STATUSES = frozenset({429, 502, 503, 504})

#: A request body: bytes, a path to a file (read again on each attempt) or a seekable binary file.
Body = Union[bytes, Path, BinaryIO]

# What a dropped or refused connection looks like from urllib and http.client.
TRANSPORT_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, OSError)


@dataclass(frozen=True)
class Response:
    """A complete (non-streamed) answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def retry_after_seconds(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """A ``Retry-After`` header as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return seconds if seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Transport:
    """Sends requests to one gateway and retries the ones a retry can fix."""

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        max_retry_after: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._jitter = jitter
        # Redirects are not followed: a POST re-sent elsewhere without its body helps no one.
        self._opener = urllib.request.build_opener(_NoRedirect)

    def url(self, path: str, query: Optional[Mapping[str, Any]] = None) -> str:
        """The absolute URL of ``path`` with the query parameters that are not None."""
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        return self.base_url + path + (("?" + urllib.parse.urlencode(params)) if params else "")

    def backoff_delay(self, attempt: int) -> float:
        """The wait before retry ``attempt`` (1-based): exponential, capped, with half of it jittered."""
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return ceiling / 2 + self._jitter() * ceiling / 2

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        json_body: Any = None,
        body: Optional[Body] = None,
        content_type: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
        max_attempts: Optional[int] = None,
    ) -> Response:
        """Sends one logical request (retrying) and reads the whole 2xx answer."""
        raw = self.open(
            method,
            path,
            query=query,
            json_body=json_body,
            body=body,
            content_type=content_type,
            headers=headers,
            idempotency_key=idempotency_key,
            timeout=timeout,
            max_attempts=max_attempts,
        )
        with raw:
            return Response(raw.status, _header_map(raw.headers), raw.read())

    def open(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        json_body: Any = None,
        body: Optional[Body] = None,
        content_type: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
        timeout: Optional[float] = None,
        max_attempts: Optional[int] = None,
    ) -> http.client.HTTPResponse:
        """Sends one logical request (retrying) and returns the 2xx answer unread; close it when done."""
        url = self.url(path, query)
        sent: Dict[str, str] = {"Accept": "application/json", "User-Agent": USER_AGENT}
        sent.update(headers or {})
        if self.api_key:
            sent["Authorization"] = f"Bearer {self.api_key}"
        if method == "POST":
            sent["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        payload: Optional[Body] = body
        if json_body is not None:
            payload = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            sent["Content-Type"] = "application/json"
        elif body is not None:
            sent["Content-Type"] = content_type or "application/octet-stream"

        attempts = self.max_attempts if max_attempts is None else max(1, max_attempts)
        attempt = 0
        while True:
            attempt += 1
            data, length, closer = _body_for_attempt(payload)
            request_headers = dict(sent)
            if length is not None:
                request_headers["Content-Length"] = str(length)
            request = urllib.request.Request(url, data=data, headers=request_headers, method=method)
            try:
                return self._opener.open(request, timeout=timeout or self.timeout)
            except urllib.error.HTTPError as answer:
                error_body = _read_quietly(answer)
                error = DiffdaError.from_response(answer.code, error_body, str(answer.reason or ""))
                wait = self._retry_wait(answer.code, error.code, answer.headers, attempt, attempts)
                if wait is None:
                    raise error from None
                log.info("%s %s: %s %s, retry %d in %.2f s", method, path, answer.code, error.code, attempt, wait)
            except TRANSPORT_ERRORS as failure:
                # A certificate the client rejects stays rejected: retrying only delays the news.
                if attempt >= attempts or _is_certificate_error(failure):
                    raise DiffdaError(0, "unreachable", f"cannot reach {self.base_url}", str(failure)) from failure
                wait = self.backoff_delay(attempt)
                log.info("%s %s: %s, retry %d in %.2f s", method, path, failure, attempt, wait)
            finally:
                if closer is not None:
                    closer()
            self._sleep(wait)

    def _retry_wait(self, status: int, code: str, headers: Any, attempt: int, attempts: int) -> Optional[float]:
        """Seconds to wait before retrying this answer, or None when it is final."""
        retryable = status in RETRY_STATUSES or (status == 409 and code == "idempotency_in_flight")
        if not retryable or attempt >= attempts:
            return None
        told = retry_after_seconds(headers.get("Retry-After") if headers is not None else None)
        if told is None:
            return self.backoff_delay(attempt)
        if told > self.max_retry_after:
            return None  # the gateway asks for longer than we are willing to block: report it
        # A little jitter on top, so that clients told the same second do not all come back at once.
        return told + self._jitter() * min(1.0, self.backoff)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        return None


def _is_certificate_error(failure: BaseException) -> bool:
    reason = getattr(failure, "reason", failure)
    return isinstance(reason, ssl.SSLCertVerificationError)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _header_map(headers: Any) -> Dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _read_quietly(answer: urllib.error.HTTPError) -> bytes:
    try:
        return answer.read()
    except TRANSPORT_ERRORS:
        return b""
    finally:
        answer.close()


def _body_for_attempt(payload: Optional[Body]):
    """The body of one attempt, its length, and what closes it: files are read again on every retry."""
    if payload is None:
        return None, None, None
    if isinstance(payload, bytes):
        return payload, len(payload), None
    if isinstance(payload, os.PathLike):
        handle = open(payload, "rb")  # noqa: SIM115 - closed by the caller after the attempt
        return handle, os.fstat(handle.fileno()).st_size, handle.close
    payload.seek(0, io.SEEK_END)
    length = payload.tell()
    payload.seek(0)
    return payload, length, None
