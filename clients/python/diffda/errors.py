"""Errors the client raises: the gateway's problem+json documents, timeouts, bad webhooks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class FieldError:
    """One field-level problem: a JSON Pointer prefixed by the request part (``/body/seeds/0``)."""

    field: str
    message: str


class DiffdaError(Exception):
    """A request the gateway refused (an RFC 9457 problem), or one that never got an answer.

    ``code`` is the gateway's stable error code (``validation_failed``, ``not_found`` …), or
    ``unreachable`` with ``status`` 0 when no HTTP answer came back after the last retry.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str = "",
        errors: Optional[List[FieldError]] = None,
        problem: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors: List[FieldError] = list(errors or [])
        #: The problem document as the gateway sent it (empty when there was none).
        self.problem: Dict[str, Any] = dict(problem or {})
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{self.status} {self.code}: {self.title}"
        if self.detail:
            head += f": {self.detail}"
        return head + "".join(f"\n  {e.field}: {e.message}" for e in self.errors)

    @classmethod
    def from_response(cls, status: int, body: bytes, reason: str = "") -> "DiffdaError":
        """The error of a non-2xx answer: its problem+json, or the raw text when it is not one."""
        try:
            problem = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            problem = None
        if not isinstance(problem, dict):
            text = body.decode("utf-8", "replace")[:500] if body else ""
            return cls(status, f"http_{status}", reason or f"HTTP {status}", text)
        raw_errors = problem.get("errors")
        errors = [
            FieldError(str(e.get("field", "")), str(e.get("message", "")))
            for e in (raw_errors if isinstance(raw_errors, list) else [])
            if isinstance(e, dict)
        ]
        return cls(
            int(problem.get("status", status)) if isinstance(problem.get("status"), int) else status,
            str(problem.get("code") or f"http_{status}"),
            str(problem.get("title") or reason or f"HTTP {status}"),
            str(problem.get("detail") or ""),
            errors,
            problem,
        )


class JobWaitTimeout(TimeoutError):
    """``Client.wait`` gave up before the job reached a final state (the job keeps running)."""

    def __init__(self, job_id: str, state: Optional[str], seconds: float) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(f"job {job_id} still {state or 'unknown'} after {seconds:g} s")


class WebhookVerificationError(Exception):
    """A webhook delivery whose headers, signature or timestamp do not check out."""
