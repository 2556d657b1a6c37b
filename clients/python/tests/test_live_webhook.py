"""A job's webhook end to end: the live gateway signs its deliveries with this key's secret and a
receiver written here checks them with verify_webhook, as a pipeline's endpoint would."""

from __future__ import annotations

import json
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Tuple

from support import live_client, live_gateway

from diffda import DiffdaError, WebhookVerificationError, verify_webhook


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


def safetensors(tensors: Dict[str, Tuple[int, int]]) -> bytes:
    """A float32 safetensors file of zero tensors with these shapes, written from the format's spec."""
    header: Dict[str, Any] = {}
    offset = 0
    for key, (rows, cols) in tensors.items():
        size = rows * cols * 4
        header[key] = {"dtype": "F32", "shape": [rows, cols], "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + bytes(offset)


class LiveAdaptersTest(unittest.TestCase):
    def test_an_uploaded_lora_is_checked_and_a_bad_one_refused_naming_its_key(self) -> None:
        live_gateway()
        client = live_client()
        module = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
        with tempfile.TemporaryDirectory() as tmp:
            good = Path(tmp) / "lora.safetensors"
            good.write_bytes(safetensors({f"{module}.lora_A.weight": (4, 8), f"{module}.lora_B.weight": (8, 4)}))
            adapter = client.upload_adapter(good, name="py lora", kind="lora", model="tiny-sd", rank=4, alpha=4)
            self.assertEqual(adapter["kind"], "lora")
            self.assertIn(adapter["id"], [a["id"] for a in client.list_adapters()])
            bad = Path(tmp) / "bad.safetensors"
            bad.write_bytes(safetensors({"unet.bad_module.lora_A.weight": (4, 8)}))
            with self.assertRaises(DiffdaError) as refused:
                client.upload_adapter(bad, name="py bad", kind="lora", model="tiny-sd")
            self.assertEqual((refused.exception.status, refused.exception.code), (422, "invalid_adapter"))
            client.delete_adapter(adapter["id"])

    def test_a_trained_adapter_is_listed_and_reused_by_id(self) -> None:
        live_gateway()
        client = live_client()
        dataset = client.upload_dataset({"builtin": "fashion-mnist", "shots": 2})
        trained = client.wait(client.generate(dataset.id, ["da-fusion"], seeds=[0]).id, timeout=30)
        mine = [a for a in client.list_adapters() if a["sourceJobId"] == trained.id]
        self.assertEqual([a["kind"] for a in mine], ["textual_inversion"])
        reuse = client.generate(dataset.id, [{"preset": "real-guidance", "adapters": [mine[0]["id"]]}], seeds=[0])
        self.assertEqual(client.wait(reuse.id, timeout=30).state, "succeeded")
        client.delete_job(reuse.id)
        client.delete_adapter(mine[0]["id"])
        self.assertNotIn(mine[0]["id"], [a["id"] for a in client.list_adapters()])


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
