"""verify_webhook against signatures computed here from the Standard Webhooks spec: HMAC-SHA256 over
``<webhook-id>.<webhook-timestamp>.<body>`` keyed with the base64 after ``whsec_``, sent as
``v1,<base64>`` entries separated by spaces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import unittest

import support  # noqa: F401 - puts the package on sys.path

from diffda import WebhookVerificationError, verify_webhook

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret[len("whsec_") :])
    digest = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class VerifyWebhookTest(unittest.TestCase):
    body = json.dumps({"type": "job.succeeded", "data": {"jobId": "j1"}}).encode()

    def headers(self, *, secret: str = SECRET, timestamp: int = 0, body: bytes = b"") -> dict:
        stamp = str(timestamp or int(time.time()))
        return {
            "webhook-id": "msg_1",
            "webhook-timestamp": stamp,
            "webhook-signature": sign(secret, "msg_1", stamp, body or self.body),
        }

    def test_the_specs_test_vector(self) -> None:
        # The example of the Standard Webhooks reference libraries' test suites.
        headers = {
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "webhook-timestamp": "1614265330",
            "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        }
        body = b'{"test": 2432232314}'
        payload = verify_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", headers, body, now=1614265330 + 10)
        self.assertEqual(payload, {"test": 2432232314})

    def test_accepts_a_signed_delivery_and_returns_the_payload(self) -> None:
        self.assertEqual(verify_webhook(SECRET, self.headers(), self.body)["data"], {"jobId": "j1"})
        # Header names in any case, and the body as text.
        upper = {k.upper(): v for k, v in self.headers().items()}
        self.assertEqual(verify_webhook(SECRET, upper, self.body.decode())["type"], "job.succeeded")

    def test_any_matching_v1_entry_passes(self) -> None:
        headers = self.headers()
        good = headers["webhook-signature"]
        headers["webhook-signature"] = f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,abc {good}"
        verify_webhook(SECRET, headers, self.body)

    def test_rejects_a_tampered_body(self) -> None:
        tampered = self.body.replace(b"j1", b"j2")
        with self.assertRaisesRegex(WebhookVerificationError, "no v1 signature"):
            verify_webhook(SECRET, self.headers(), tampered)

    def test_rejects_the_wrong_secret(self) -> None:
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(OTHER_SECRET, self.headers(), self.body)

    def test_rejects_an_old_timestamp_even_when_signed(self) -> None:
        old = int(time.time()) - 301
        with self.assertRaisesRegex(WebhookVerificationError, "stale"):
            verify_webhook(SECRET, self.headers(timestamp=old), self.body)
        # Inside a wider tolerance the same delivery passes: the signature itself was right.
        verify_webhook(SECRET, self.headers(timestamp=old), self.body, tolerance=600)

    def test_rejects_a_timestamp_from_the_future(self) -> None:
        with self.assertRaisesRegex(WebhookVerificationError, "future"):
            verify_webhook(SECRET, self.headers(timestamp=int(time.time()) + 400), self.body)

    def test_rejects_a_signature_moved_to_another_id(self) -> None:
        headers = self.headers()
        headers["webhook-id"] = "msg_2"
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(SECRET, headers, self.body)

    def test_rejects_missing_headers_other_versions_and_bad_timestamps(self) -> None:
        for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            headers = self.headers()
            del headers[missing]
            with self.subTest(missing=missing), self.assertRaisesRegex(WebhookVerificationError, missing):
                verify_webhook(SECRET, headers, self.body)
        headers = self.headers()
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(SECRET, headers, self.body)
        headers = self.headers()
        headers["webhook-timestamp"] = "soon"
        with self.assertRaisesRegex(WebhookVerificationError, "Unix seconds"):
            verify_webhook(SECRET, headers, self.body)
        with self.assertRaisesRegex(WebhookVerificationError, "base64"):
            verify_webhook("whsec_not*base64", self.headers(), self.body)


if __name__ == "__main__":
    unittest.main()
