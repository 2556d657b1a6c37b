"""Retries, idempotency keys, SSE reconnects and the polling fallback against a scripted local HTTP
server (what a live gateway cannot be made to do on cue: answer 503 twice, drop a stream midway)."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List, Optional

import support  # noqa: F401 - puts the package on sys.path

from diffda import Client, DiffdaError, JobWaitTimeout
from diffda.sse import SseParser
from diffda.transport import Transport, retry_after_seconds

JOB_ID = "7d1f4c3e-0000-4000-8000-000000000001"


def job_json(state: str) -> dict:
    return {
        "id": JOB_ID,
        "name": None,
        "state": state,
        "datasetId": None,
        "spec": {"kind": "generate"},
        "tasks": {"pending": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0, "total": 1},
        "result": None,
        "error": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "startedAt": None,
        "finishedAt": None,
        "links": {},
    }


def sse(event_id: int, event_type: str) -> bytes:
    data = json.dumps({"id": event_id, "type": event_type, "createdAt": "2026-01-01T00:00:00Z", "data": {}})
    return f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n".encode()


class Script:
    """What the fake server answers: a handler per (method, path), and every request it saw."""

    def __init__(self) -> None:
        self.routes: Dict[str, Callable[[BaseHTTPRequestHandler, int], None]] = {}
        self.seen: List[dict] = []
        self.lock = threading.Lock()

    def count(self, key: str) -> int:
        return sum(1 for r in self.seen if r["key"] == key)


def make_handler(script: Script):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            key = f"{self.command} {self.path.split('?')[0]}"
            with script.lock:
                n = script.count(key)
                script.seen.append({"key": key, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            route = script.routes.get(key)
            if route is None:
                self.answer(404, {"code": "not_found", "title": "Not found", "status": 404})
                return
            route(self, n)

        def answer(self, status: int, body: Optional[dict], headers: Optional[dict] = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            kind = "application/problem+json" if status >= 400 else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = handle_any

    return Handler


def problem(code: str, status: int) -> dict:
    return {"type": f"urn:diffda:problem:{code}", "title": code, "status": status, "detail": "", "code": code}


class FakeServerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.script = Script()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.script))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.waits: List[float] = []

    def tearDown(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def transport(self, **options) -> Transport:
        return Transport(self.url, "dda_test", timeout=5, sleep=self.waits.append, jitter=lambda: 0.0, **options)


class RetryTest(FakeServerTest):
    def test_503_then_429_are_retried_after_retry_after_with_the_same_idempotency_key(self) -> None:
        def route(h, n: int) -> None:
            if n == 0:
                h.answer(503, problem("uploads_busy", 503), {"Retry-After": "5"})
            elif n == 1:
                h.answer(429, problem("rate_limited", 429), {"Retry-After": "2"})
            else:
                h.answer(201, {"ok": True})

        self.script.routes["POST /v1/datasets"] = route
        answer = self.transport().request("POST", "/v1/datasets", body=b"PK\x05\x06" + b"\0" * 18, content_type="application/zip")
        self.assertEqual(answer.json(), {"ok": True})
        self.assertEqual(self.waits, [5.0, 2.0])
        keys = [r["headers"]["idempotency-key"] for r in self.script.seen]
        self.assertEqual(len(keys), 3)
        self.assertEqual(len(set(keys)), 1, "one key for the logical request, reused on each retry")
        self.assertTrue(all(r["body"] == self.script.seen[0]["body"] for r in self.script.seen))
        self.assertEqual(self.script.seen[0]["headers"]["authorization"], "Bearer dda_test")

        # A second logical request gets a key of its own.
        self.transport().request("POST", "/v1/datasets", json_body={"builtin": "mnist", "shots": 1})
        self.assertNotEqual(self.script.seen[-1]["headers"]["idempotency-key"], keys[0])

    def test_without_retry_after_the_backoff_doubles_up_to_its_cap(self) -> None:
        self.script.routes["GET /v1/jobs"] = lambda h, n: h.answer(
            503 if n < 5 else 200, problem("unavailable", 503) if n < 5 else {"items": [], "nextCursor": None}
        )
        self.transport(backoff=1.0, max_backoff=4.0).request("GET", "/v1/jobs")
        self.assertEqual(self.waits, [0.5, 1.0, 2.0, 2.0, 2.0])  # jitter 0: half of 1, 2, 4, 4, 4
        transport = Transport(self.url, backoff=1.0, max_backoff=4.0, jitter=lambda: 1.0)
        self.assertEqual([transport.backoff_delay(a) for a in (1, 2, 3, 4)], [1.0, 2.0, 4.0, 4.0])

    def test_idempotency_in_flight_is_retried_other_409s_are_not(self) -> None:
        self.script.routes["POST /v1/jobs"] = lambda h, n: (
            h.answer(409, problem("idempotency_in_flight", 409), {"Retry-After": "1"})
            if n == 0
            else h.answer(201, {"id": "j"})
        )
        self.assertEqual(self.transport().request("POST", "/v1/jobs", json_body={}).json(), {"id": "j"})
        self.script.routes["POST /v1/jobs/x/cancel"] = lambda h, n: h.answer(409, problem("job_not_cancellable", 409))
        with self.assertRaises(DiffdaError) as caught:
            self.transport().request("POST", "/v1/jobs/x/cancel")
        self.assertEqual(caught.exception.code, "job_not_cancellable")
        self.assertEqual(self.script.count("POST /v1/jobs/x/cancel"), 1)

    def test_gives_up_after_max_attempts_with_the_last_problem(self) -> None:
        self.script.routes["GET /v1/methods"] = lambda h, n: h.answer(503, problem("unavailable", 503), {"Retry-After": "0"})
        with self.assertRaises(DiffdaError) as caught:
            self.transport(max_attempts=3).request("GET", "/v1/methods")
        self.assertEqual((caught.exception.status, caught.exception.code), (503, "unavailable"))
        self.assertEqual(self.script.count("GET /v1/methods"), 3)

    def test_a_retry_after_past_the_limit_is_reported_not_slept(self) -> None:
        self.script.routes["GET /v1/methods"] = lambda h, n: h.answer(429, problem("rate_limited", 429), {"Retry-After": "3600"})
        with self.assertRaises(DiffdaError) as caught:
            self.transport(max_retry_after=60).request("GET", "/v1/methods")
        self.assertEqual(caught.exception.code, "rate_limited")
        self.assertEqual(self.waits, [])

    def test_a_refused_connection_is_retried_then_unreachable(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.assertRaises(DiffdaError) as caught:
            self.transport(max_attempts=3).request("POST", "/v1/jobs", json_body={})
        self.assertEqual((caught.exception.status, caught.exception.code), (0, "unreachable"))
        self.assertEqual(len(self.waits), 2)
        # Restarted so tearDown has a server to stop.
        self.setUp()

    def test_a_non_problem_error_body_still_raises(self) -> None:
        def route(h, n):
            h.send_response(502)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", "9")
            h.end_headers()
            h.wfile.write(b"<h1>x</h1>"[:9])

        self.script.routes["GET /v1/jobs"] = route
        with self.assertRaises(DiffdaError) as caught:
            self.transport(max_attempts=1).request("GET", "/v1/jobs")
        self.assertEqual((caught.exception.status, caught.exception.code), (502, "http_502"))

    def test_ready_asks_once(self) -> None:
        self.script.routes["GET /readyz"] = lambda h, n: (
            h.answer(503, problem("unavailable", 503), {"Retry-After": "1"}) if n == 0 else h.answer(200, {"ok": True})
        )
        client = Client(self.url)
        self.assertFalse(client.ready())
        self.assertEqual(self.script.count("GET /readyz"), 1)
        self.assertTrue(client.ready())

    def test_options_that_a_built_in_task_does_not_take_are_refused_before_sending(self) -> None:
        with self.assertRaisesRegex(ValueError, "size"):
            Client(self.url).upload_dataset({"builtin": "mnist", "shots": 1}, size=64)
        with self.assertRaisesRegex(ValueError, "unknown built-in dataset fields"):
            Client(self.url).upload_dataset({"builtin": "mnist", "shots": 1, "shot": 2})
        self.assertEqual(self.script.seen, [])

    def test_retry_after_as_an_http_date(self) -> None:
        self.assertEqual(retry_after_seconds("120"), 120.0)
        self.assertEqual(retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0), 10.0)
        self.assertIsNone(retry_after_seconds("soon"))
        self.assertIsNone(retry_after_seconds(None))


class WaitTest(FakeServerTest):
    def client(self) -> Client:
        client = Client(self.url, timeout=5)
        client.transport._sleep = self.waits.append
        return client

    def test_a_dropped_stream_resumes_with_last_event_id_delivering_each_event_once(self) -> None:
        def events(h, n: int) -> None:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            if n == 0:
                h.wfile.write(b"retry: 10\n\n" + sse(1, "job.created") + sse(2, "task.started"))
                h.wfile.flush()
                h.close_connection = True  # no final event: the connection just ends
            else:
                # A resumed stream may repeat the last event; the client skips it.
                h.wfile.write(sse(2, "task.started") + b": keep-alive\r\n\r\n" + sse(3, "job.succeeded"))
                h.close_connection = True

        states = iter(["running", "succeeded", "succeeded"])
        self.script.routes[f"GET /v1/jobs/{JOB_ID}/events"] = events
        self.script.routes[f"GET /v1/jobs/{JOB_ID}"] = lambda h, n: h.answer(200, job_json(next(states)))
        seen = []
        job = self.client().wait(JOB_ID, on_event=seen.append, timeout=10)
        self.assertEqual(job.state, "succeeded")
        self.assertEqual([(e.id, e.type) for e in seen], [(1, "job.created"), (2, "task.started"), (3, "job.succeeded")])
        streams = [r for r in self.script.seen if r["key"].endswith("/events")]
        self.assertEqual(len(streams), 2)
        self.assertNotIn("last-event-id", streams[0]["headers"])
        self.assertEqual(streams[1]["headers"]["last-event-id"], "2")
        self.assertEqual(streams[0]["headers"]["accept"], "text/event-stream")

    def test_falls_back_to_polling_when_the_stream_is_not_an_event_stream(self) -> None:
        # A proxy that buffers or rewrites: the answer is not text/event-stream.
        self.script.routes[f"GET /v1/jobs/{JOB_ID}/events"] = lambda h, n: h.answer(200, {"not": "sse"})
        states = iter(["queued", "running", "succeeded"])
        self.script.routes[f"GET /v1/jobs/{JOB_ID}"] = lambda h, n: h.answer(200, job_json(next(states)))
        polled = []
        job = self.client().wait(JOB_ID, on_poll=polled.append, poll_interval=0.01, timeout=10)
        self.assertEqual(job.state, "succeeded")
        self.assertEqual([j.state for j in polled], ["queued", "running", "succeeded"])

    def test_falls_back_to_polling_after_three_failed_streams(self) -> None:
        self.script.routes[f"GET /v1/jobs/{JOB_ID}/events"] = lambda h, n: h.answer(502, problem("upstream_error", 502))
        self.script.routes[f"GET /v1/jobs/{JOB_ID}"] = lambda h, n: h.answer(200, job_json("succeeded"))
        client = Client(self.url, timeout=5, max_attempts=1)
        job = client.wait(JOB_ID, timeout=20, reconnect_delay=0.01)
        self.assertEqual(job.state, "succeeded")
        self.assertEqual(self.script.count(f"GET /v1/jobs/{JOB_ID}/events"), 3)

    def test_a_refused_stream_raises_at_once(self) -> None:
        self.script.routes[f"GET /v1/jobs/{JOB_ID}/events"] = lambda h, n: h.answer(401, problem("unauthorized", 401))
        with self.assertRaises(DiffdaError) as caught:
            self.client().wait(JOB_ID, timeout=5)
        self.assertEqual(caught.exception.code, "unauthorized")
        self.assertEqual(self.script.count(f"GET /v1/jobs/{JOB_ID}/events"), 1)

    def test_times_out_while_the_job_keeps_running(self) -> None:
        self.script.routes[f"GET /v1/jobs/{JOB_ID}"] = lambda h, n: h.answer(200, job_json("running"))
        started = time.monotonic()
        with self.assertRaises(JobWaitTimeout) as caught:
            Client(self.url).wait(JOB_ID, follow_events=False, poll_interval=0.05, timeout=0.3)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual((caught.exception.job_id, caught.exception.state), (JOB_ID, "running"))

        def silent(h, n):  # a stream that never sends an event
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.end_headers()
            h.wfile.write(b": keep-alive\n\n")
            h.wfile.flush()
            time.sleep(2)

        self.script.routes[f"GET /v1/jobs/{JOB_ID}/events"] = silent
        started = time.monotonic()
        with self.assertRaises(JobWaitTimeout):
            Client(self.url).wait(JOB_ID, timeout=0.5)
        self.assertLess(time.monotonic() - started, 2)


class DownloadTest(FakeServerTest):
    def test_a_body_cut_short_is_downloaded_again_and_only_a_whole_file_lands(self) -> None:
        payload = b"PK" + bytes(range(256)) * 64

        def route(h, n: int) -> None:
            h.send_response(200)
            h.send_header("Content-Type", "application/zip")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload if n > 0 else payload[:1000])  # the first answer stops midway
            h.close_connection = True

        self.script.routes[f"GET /v1/jobs/{JOB_ID}/synthetic"] = route
        client = Client(self.url, backoff=0.01)
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "set.zip"
            client.download_synthetic(JOB_ID, dest, format="zip", method="diff-mix", seed=0)
            self.assertEqual(dest.read_bytes(), payload)
            self.assertEqual([p.name for p in Path(tmp).iterdir()], ["set.zip"], "no partial file left")
        self.assertEqual(self.script.count(f"GET /v1/jobs/{JOB_ID}/synthetic"), 2)

    def test_an_unknown_format_is_refused_before_sending(self) -> None:
        with self.assertRaisesRegex(ValueError, "format"):
            Client(self.url).download_synthetic(JOB_ID, "x", format="parquet")
        self.assertEqual(self.script.seen, [])


class SseParserTest(unittest.TestCase):
    def test_frames_across_pieces_and_line_endings(self) -> None:
        parser = SseParser()
        out = parser.push("retry: 2000\n\nid: 1\nevent: job.created\ndata: {\"a\"")
        self.assertEqual(out, [])
        out = parser.push(":1}\r")
        self.assertEqual(out, [])
        out = parser.push("\n\r\nid: 2\rdata: x\rdata: y\r\r: keep-alive\n\n")
        self.assertEqual([(f.event, f.data, f.id) for f in out], [("job.created", '{"a":1}', "1"), ("message", "x\ny", "2")])
        self.assertEqual((parser.retry_ms, parser.comments, parser.last_event_id), (2000, 1, "2"))

    def test_a_frame_without_data_dispatches_nothing_but_keeps_its_id(self) -> None:
        parser = SseParser("5")
        self.assertEqual(parser.push("id: 9\n\n"), [])
        self.assertEqual(parser.last_event_id, "9")


if __name__ == "__main__":
    unittest.main()
