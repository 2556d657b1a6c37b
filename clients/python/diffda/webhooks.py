"""Webhook deliveries checked by the Standard Webhooks signature scheme (https://www.standardwebhooks.com):

- headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``, a
  space-separated list of ``v1,<base64 HMAC-SHA256>`` entries (several while a secret is rotated);
- the HMAC is over ``<id>.<timestamp>.<body>`` — the raw body, byte for byte as received — keyed with
  the secret ``whsec_<base64 key>`` decoded;
- a timestamp further than ``tolerance`` seconds from now, either way, is refused, so a captured
  delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from typing import Any, Iterable, Mapping, Optional, Tuple, Union

from .errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"

Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]]]


def _key(secret: Union[str, bytes]) -> bytes:
    """The HMAC key: raw bytes as given, or the base64 after the optional ``whsec_`` prefix."""
    if isinstance(secret, bytes):
        return secret
    encoded = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise WebhookVerificationError("the secret is not whsec_ followed by base64") from error
    if not key:
        raise WebhookVerificationError("the secret is empty")
    return key


def _header(headers: Headers, name: str) -> str:
    """A header by name, whatever the case its mapping uses (a dict, an email.Message, WSGI pairs)."""
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:  # type: ignore[union-attr]
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def verify_webhook(
    secret: Union[str, bytes],
    headers: Headers,
    body: Union[bytes, str],
    tolerance: float = 300,
    now: Optional[float] = None,
) -> Any:
    """Checks one delivery and returns its body parsed as JSON (the body itself if it is not JSON).

    Raises :class:`WebhookVerificationError` for a missing header, a timestamp outside ``tolerance``
    seconds of ``now`` (default: the clock), or no ``v1`` signature that matches.
    """
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if re.fullmatch(r"[0-9]{1,15}", stamp) is None:
        raise WebhookVerificationError(f"webhook-timestamp {stamp!r} is not Unix seconds")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if current - timestamp > tolerance:
        raise WebhookVerificationError(f"the delivery is stale: sent {current - timestamp:.0f} s ago")
    if timestamp - current > tolerance:
        raise WebhookVerificationError(f"the delivery is from the future: {timestamp - current:.0f} s ahead")

    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    # The sender signed the header's text as it sent it.
    signed = msg_id.encode("utf-8") + b"." + stamp.encode("utf-8") + b"." + raw
    expected = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest())
    matched = False
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        # Other versions (v1a: asymmetric) are not ours to judge; every v1 entry is compared, so the
        # time taken does not tell which one matched.
        if version == "v1" and hmac.compare_digest(expected, signature.encode("ascii", "replace")):
            matched = True
    if not matched:
        raise WebhookVerificationError("no v1 signature matches the body")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw
