"""A job's webhook end to end: the live gateway signs its deliveries with this key's secret and a
receiver written here checks them with verify_webhook, as a pipeline's endpoint would."""

from __future__ import annotations

import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple

from support import live_client, live_gateway

from diffda import WebhookVerificationError, verify_webhook


class Receiver(ThreadingHTTPServer):
    """Records every POST it gets: (headers, body)."""

    def __init__(self) -> None:
        self.received: List[Tuple[Dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with self.server.arrived:
            self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.server.arrived.notify_all()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class LiveModelsTest(unittest.TestCase):
    def test_the_models_are_listed_and_a_result_names_the_one_it_drew_with(self) -> None:
        live_gateway()
        client = live_client()
        models = {m["id"]: m for m in client.list_models()}
        self.assertIn("tiny-sd", models)
        dataset = client.upload_dataset({"builtin": "fashion-mnist", "shots": 2})
        job = client.generate(dataset.id, [{"preset": "real-guidance", "generation": {"model": "tiny-sd"}}], seeds=[0])
        done = client.wait(job.id, timeout=30)
        generation = done.result.methods[0].generation
        self.assertEqual(generation.models, [{"id": "tiny-sd", "sha256": models["tiny-sd"]["sha256"]}])


class LiveWebhookTest(unittest.TestCase):
    def test_a_jobs_deliveries_are_signed_with_the_keys_secret(self) -> None:
        live_gateway()
        client = live_client()
        secret = client.rotate_webhook_secret()
        self.assertTrue(secret.startswith("whsec_"))
        receiver = Receiver()
        thread = threading.Thread(target=receiver.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
            dataset = client.upload_dataset({"builtin": "fashion-mnist", "shots": 2})
            job = client.generate(
                dataset.id, ["real-guidance"], seeds=[0], webhook=url, webhook_events=["job.started", "job.succeeded"]
            )
            self.assertEqual(client.wait(job.id, timeout=30).state, "succeeded")
            with receiver.arrived:
                receiver.arrived.wait_for(lambda: len(receiver.received) >= 2, timeout=20)
            self.assertEqual(len(receiver.received), 2, "job.started and job.succeeded")
            types = []
            for headers, body in receiver.received:
                verify_webhook(secret, headers, body)  # raises if the signature does not hold
                payload = json.loads(body)
                types.append(payload["type"])
                self.assertEqual(payload["data"]["jobId"], job.id)
                with self.assertRaises(WebhookVerificationError):
                    verify_webhook(secret, headers, body + b" ")
            self.assertEqual(sorted(types), ["job.started", "job.succeeded"])
            deliveries = client.webhook_deliveries(job.id)
            self.assertEqual(sorted(d["state"] for d in deliveries), ["succeeded", "succeeded"])
        finally:
            receiver.shutdown()
            receiver.server_close()


if __name__ == "__main__":
    unittest.main()
