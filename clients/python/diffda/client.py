"""The diffda gateway's REST API as one class (docs/api.md): datasets, methods, jobs, their events,
artifacts and synthetic-set downloads."""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import socket
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from . import archives
from .errors import DiffdaError, JobWaitTimeout
from .models import Artifact, Dataset, DatasetFile, Event, Job, JobSummary, Method, Page
from .sse import SseParser
from .transport import TRANSPORT_ERRORS, Transport

log = logging.getLogger("diffda")

PathLike = Union[str, "os.PathLike[str]"]
MethodSpec = Union[str, Mapping[str, Any]]

SYNTHETIC_FORMATS = ("zip", "imagefolder", "webdataset")
_CHUNK = 1 << 16


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class Client:
    """A client of one diffda gateway.

    ``api_key`` is a ``dda_…`` token (None: no Authorization header, for an embedded gateway that
    lets loopback callers in). ``timeout`` is the socket timeout of each request in seconds (for a
    download, of each read). Requests that a retry can fix are retried ``max_attempts`` times in all.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: float = 30.0,
        *,
        max_attempts: int = 6,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        max_retry_after: float = 120.0,
    ) -> None:
        self.transport = Transport(
            base_url,
            api_key,
            timeout,
            max_attempts=max_attempts,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
        )

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.transport.request(method, path, **kwargs).json()

    # --- service -------------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether the gateway answers ``GET /readyz`` with 200 (False while it starts or drains)."""
        try:
            # One attempt: a 503 here is the answer, not something to wait out.
            self.transport.request("GET", "/readyz", max_attempts=1)
            return True
        except DiffdaError:
            return False

    def openapi(self) -> Dict[str, Any]:
        """The OpenAPI 3.1 document (``GET /openapi.json``)."""
        return self._json("GET", "/openapi.json")

    def list_methods(self) -> List[Method]:
        """The method presets: seven DiffDA methods and two baselines (``GET /v1/methods``)."""
        return [Method.from_json(m) for m in self._json("GET", "/v1/methods")["items"]]

    def list_models(self) -> List[Dict[str, Any]]:
        """The models the deployment serves (``GET /v1/models``): id, sha256 of the folder, bytes,
        nativeSize, pipeline, summary and card. Name one in a method's ``generation.model``."""
        return list(self._json("GET", "/v1/models")["items"])

    # --- adapters ------------------------------------------------------------------------------

    def upload_adapter(
        self,
        path: PathLike,
        *,
        name: str,
        kind: str,
        model: str,
        tokens: Optional[Sequence[str]] = None,
        rank: Optional[int] = None,
        alpha: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Uploads a LoRA (``kind="lora"``: PEFT, diffusers or kohya keys) or textual-inversion
        (``kind="textual_inversion"``) safetensors file trained on ``model``. The gateway checks it
        against the model and refuses a file that does not fit with ``invalid_adapter`` naming the key.
        Returns the adapter resource; name its ``id`` in a method's ``adapters``."""
        query: Dict[str, Any] = {"name": name, "kind": kind, "model": model}
        if tokens:
            query["tokens"] = ",".join(tokens)
        if rank is not None:
            query["rank"] = rank
        if alpha is not None:
            query["alpha"] = alpha
        return dict(
            self._json(
                "POST", "/v1/adapters", query=query, body=Path(path), content_type="application/octet-stream"
            )
        )

    def list_adapters(self) -> List[Dict[str, Any]]:
        """This key's adapters, uploaded or trained by its jobs (``sourceJobId``), newest first."""
        return list(self._json("GET", "/v1/adapters")["items"])

    def delete_adapter(self, adapter_id: str) -> None:
        """Deletes an adapter and frees its file (409 ``adapter_in_use`` while a live job needs it)."""
        self.transport.request("DELETE", f"/v1/adapters/{_quote(adapter_id)}")

    # --- datasets ------------------------------------------------------------------------------

    def upload_dataset(
        self,
        source: Union[PathLike, Mapping[str, Any]],
        *,
        name: Optional[str] = None,
        size: Optional[int] = None,
        channels: Optional[int] = None,
        test_fraction: Optional[float] = None,
        split_seed: Optional[int] = None,
    ) -> Dataset:
        """Registers a dataset and returns it.

        ``source`` is an ImageFolder directory (``<class>/<image>``, or ``train/<class>/<image>`` and
        ``test/<class>/<image>`` to bring the test split; zipped here), an archive file (.zip, .tar or
        .tar.gz, sent as it is with the media type its bytes show), or a built-in task as a mapping,
        ``{"builtin": "fashion-mnist", "shots": 5}`` (its options go in the mapping: ``seed``,
        ``classes``, ``testPerClass``, ``name``).
        """
        if isinstance(source, Mapping):
            given = [k for k, v in {"size": size, "channels": channels, "test_fraction": test_fraction,
                                    "split_seed": split_seed, "name": name}.items() if v is not None]
            if given:
                raise ValueError(f"{given} apply to uploads; a built-in task takes its options in the mapping")
            if "builtin" not in source:
                raise ValueError("a mapping source must name a built-in dataset: {'builtin': …, 'shots': …}")
            return self.create_builtin_dataset(**_builtin_kwargs(source))
        query = {
            "name": name,
            "size": size,
            "channels": channels,
            "testFraction": test_fraction,
            "splitSeed": split_seed,
        }
        path = Path(source)
        if path.is_dir():
            with archives.zip_image_folder(path) as spool:
                answer = self._json(
                    "POST", "/v1/datasets", query=query, body=spool, content_type="application/zip"
                )
            return Dataset.from_json(answer)
        if not path.is_file():
            raise FileNotFoundError(f"{source}: neither a directory nor an archive file")
        with open(path, "rb") as handle:
            media_type = archives.archive_media_type(handle.read(262))
        answer = self._json("POST", "/v1/datasets", query=query, body=path, content_type=media_type)
        return Dataset.from_json(answer)

    def create_builtin_dataset(
        self,
        builtin: str,
        shots: int,
        *,
        seed: Optional[int] = None,
        classes: Optional[Sequence[Union[str, int]]] = None,
        test_per_class: Optional[int] = None,
        name: Optional[str] = None,
    ) -> Dataset:
        """Registers a few-shot task of a bundled dataset (``fashion-mnist``, ``mnist``, ``textures``)."""
        request: Dict[str, Any] = {"builtin": builtin, "shots": shots}
        if seed is not None:
            request["seed"] = seed
        if classes is not None:
            request["classes"] = list(classes)
        if test_per_class is not None:
            request["testPerClass"] = test_per_class
        if name is not None:
            request["name"] = name
        return Dataset.from_json(self._json("POST", "/v1/datasets", json_body=request))

    def get_dataset(self, dataset_id: str) -> Dataset:
        return Dataset.from_json(self._json("GET", f"/v1/datasets/{_quote(dataset_id)}"))

    def list_datasets(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[Dataset]:
        """One page of the datasets visible to the key, newest first."""
        page = self._json("GET", "/v1/datasets", query={"limit": limit, "cursor": cursor})
        return Page([Dataset.from_json(d) for d in page["items"]], page.get("nextCursor"))

    def iter_datasets(self) -> Iterator[Dataset]:
        """Every dataset visible to the key, following the pages."""
        cursor: Optional[str] = None
        while True:
            page = self.list_datasets(limit=100, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def dataset_files(self, dataset_id: str, *, split: Optional[str] = None) -> List[DatasetFile]:
        """Every image of a dataset with its class, split and digest, in manifest order."""
        out: List[DatasetFile] = []
        cursor: Optional[str] = None
        while True:
            page = self._json(
                "GET",
                f"/v1/datasets/{_quote(dataset_id)}/files",
                query={"limit": 100, "cursor": cursor, "split": split},
            )
            out.extend(DatasetFile.from_json(f) for f in page["items"])
            cursor = page.get("nextCursor")
            if cursor is None:
                return out

    def delete_dataset(self, dataset_id: str) -> None:
        """Deletes a dataset (409 ``dataset_in_use`` while a queued or running job reads it)."""
        self.transport.request("DELETE", f"/v1/datasets/{_quote(dataset_id)}")

    # --- jobs ----------------------------------------------------------------------------------

    def submit_job(
        self,
        dataset: Union[str, Dataset],
        methods: Sequence[MethodSpec],
        *,
        kind: Optional[str] = None,
        seeds: Optional[Sequence[int]] = None,
        baselines: Optional[Sequence[str]] = None,
        classifier: Optional[Mapping[str, Any]] = None,
        shard_size: Optional[int] = None,
        name: Optional[str] = None,
        webhook: Optional[str] = None,
        webhook_events: Optional[Sequence[str]] = None,
    ) -> Job:
        """Submits a job: ``methods`` are preset ids (``"diff-mix"``) or method objects as the API takes
        them (``{"preset": "da-fusion", "generation": {"strength": 0.5}}``). ``kind="generate"`` makes
        only the synthetic sets (no baselines, no classifier). ``webhook`` is a URL the job's events are
        POSTed to, signed with this key's secret (:meth:`rotate_webhook_secret`; check them with
        :func:`diffda.verify_webhook`); ``webhook_events`` picks which (default: the gateway's)."""
        request: Dict[str, Any] = {
            "datasetId": dataset.id if isinstance(dataset, Dataset) else dataset,
            "methods": [{"preset": m} if isinstance(m, str) else dict(m) for m in methods],
        }
        optional = {
            "kind": kind,
            "seeds": list(seeds) if seeds is not None else None,
            "baselines": list(baselines) if baselines is not None else None,
            "classifier": dict(classifier) if classifier is not None else None,
            "shardSize": shard_size,
            "name": name,
            "webhook": (
                None
                if webhook is None
                else {"url": webhook, **({"events": list(webhook_events)} if webhook_events else {})}
            ),
        }
        request.update({k: v for k, v in optional.items() if v is not None})
        return self.submit_job_request(request)

    def rotate_webhook_secret(self) -> str:
        """Creates or rotates this key's webhook signing secret and returns it (``whsec_…``); the
        gateway shows it only in this answer, so keep it where the receiver can read it."""
        return str(self._json("POST", "/v1/webhook-secret")["secret"])

    def webhook_deliveries(self, job_id: str) -> List[Dict[str, Any]]:
        """The deliveries of a job's webhook, newest first (state, attempts, last status and error)."""
        return list(self._json("GET", f"/v1/jobs/{_quote(job_id)}/webhook-deliveries")["items"])

    def submit_job_request(self, request: Mapping[str, Any]) -> Job:
        """Submits a job given as the ``POST /v1/jobs`` body itself (a job file, say)."""
        return Job.from_json(self._json("POST", "/v1/jobs", json_body=dict(request)))

    def generate(
        self, dataset: Union[str, Dataset], methods: Sequence[MethodSpec], **options: Any
    ) -> Job:
        """Submits a generate-only job (``kind: "generate"``): the synthetic sets, nothing else."""
        return self.submit_job(dataset, methods, kind="generate", **options)

    def get_job(self, job_id: str) -> Job:
        return Job.from_json(self._json("GET", f"/v1/jobs/{_quote(job_id)}"))

    def list_jobs(
        self, *, state: Optional[str] = None, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> Page[JobSummary]:
        """One page of the key's jobs (all jobs for an admin), newest first."""
        page = self._json("GET", "/v1/jobs", query={"state": state, "limit": limit, "cursor": cursor})
        return Page([JobSummary.from_json(j) for j in page["items"]], page.get("nextCursor"))

    def iter_jobs(self, *, state: Optional[str] = None) -> Iterator[JobSummary]:
        cursor: Optional[str] = None
        while True:
            page = self.list_jobs(state=state, limit=100, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def cancel_job(self, job_id: str) -> Job:
        """Cancels a queued or running job (409 ``job_not_cancellable`` once it is final)."""
        return Job.from_json(self._json("POST", f"/v1/jobs/{_quote(job_id)}/cancel"))

    def delete_job(self, job_id: str) -> None:
        """Deletes a finished job with its events and artifacts (409 ``job_not_finished`` before)."""
        self.transport.request("DELETE", f"/v1/jobs/{_quote(job_id)}")

    # --- events and waiting --------------------------------------------------------------------

    def events(
        self, job_id: str, *, last_event_id: int = 0, read_timeout: Optional[float] = None
    ) -> Iterator[Event]:
        """The job's events from one connection to ``GET /v1/jobs/{id}/events``, after
        ``last_event_id``, until the stream ends (after the final event of a finished job).
        :meth:`wait` adds reconnects and the polling fallback."""
        response = self._open_events(job_id, last_event_id, read_timeout)
        with response:
            for event in _read_events(response, last_event_id):
                yield event

    def _open_events(
        self, job_id: str, last_event_id: int, read_timeout: Optional[float]
    ) -> http.client.HTTPResponse:
        headers = {"Accept": "text/event-stream"}
        if last_event_id > 0:
            headers["Last-Event-ID"] = str(last_event_id)
        return self.transport.open(
            "GET", f"/v1/jobs/{_quote(job_id)}/events", headers=headers, timeout=read_timeout
        )

    def wait(
        self,
        job_id: str,
        *,
        on_event: Optional[Callable[[Event], None]] = None,
        timeout: Optional[float] = 3600.0,
        follow_events: bool = True,
        last_event_id: int = 0,
        poll_interval: float = 1.0,
        max_poll_interval: float = 15.0,
        on_poll: Optional[Callable[[Job], None]] = None,
        reconnect_delay: float = 1.0,
    ) -> Job:
        """Waits until the job is succeeded, failed or cancelled and returns it.

        By default it follows the event stream, calling ``on_event`` once per event in order, and
        reconnects with ``Last-Event-ID`` when the connection drops, so no event is missed or repeated.
        If the stream cannot be had (three connections in a row fail, or something in between answers
        with another content type), or with ``follow_events=False``, it polls ``GET /v1/jobs/{id}``
        instead, ``poll_interval`` growing by half each time up to ``max_poll_interval``, calling
        ``on_poll`` with each job it reads. Raises :class:`JobWaitTimeout` after ``timeout`` seconds
        (None: no limit); the job itself keeps running. Reconnects wait ``reconnect_delay`` seconds, or
        what the stream's ``retry:`` field asked for.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if follow_events:
            job = self._follow(job_id, on_event, deadline, timeout, last_event_id, reconnect_delay)
            if job is not None:
                return job
        return self._poll(job_id, deadline, timeout, poll_interval, max_poll_interval, on_poll)

    def _follow(
        self,
        job_id: str,
        on_event: Optional[Callable[[Event], None]],
        deadline: Optional[float],
        timeout: Optional[float],
        last: int,
        delay: float,
    ) -> Optional[Job]:
        """Follows the stream until the final event: the job, or None to fall back to polling."""
        failures = 0
        while True:
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                raise JobWaitTimeout(job_id, self._state_quietly(job_id), timeout or 0)
            # The gateway sends a keep-alive at least every SSE_HEARTBEAT_MS (15 s by default): a read
            # that waits longer than this means the connection is gone.
            read_timeout = 45.0 if remaining is None else max(0.05, min(45.0, remaining))
            received = 0
            ended_cleanly = False
            try:
                response = self._open_events(job_id, last, read_timeout)
            except DiffdaError as error:
                # The gateway refused the stream (404, 401 …): reconnecting will not change that.
                if 0 < error.status < 500:
                    raise
                failures += 1
                log.info("events of %s: %s", job_id, error)
                response = None
            if response is not None:
                with response:
                    content_type = response.headers.get("Content-Type", "")
                    if not content_type.startswith("text/event-stream"):
                        log.info("events of %s came as %r: polling instead", job_id, content_type)
                        return None
                    parser = SseParser(str(last) if last else None)
                    stream = _read_events(response, last, parser)
                    while True:
                        # Only reading the stream is guarded: what on_event raises is the caller's.
                        try:
                            event = next(stream)
                        except StopIteration:
                            ended_cleanly = True
                            break
                        except TRANSPORT_ERRORS as error:
                            failures += 1
                            log.info("events of %s dropped after event %d: %s", job_id, last, error)
                            break
                        last = event.id
                        received += 1
                        failures = 0
                        if on_event is not None:
                            on_event(event)
                        if event.is_final:
                            return self.get_job(job_id)
                        if deadline is not None and time.monotonic() >= deadline:
                            raise JobWaitTimeout(job_id, self._state_quietly(job_id), timeout or 0)
                    if parser.retry_ms is not None:
                        delay = parser.retry_ms / 1000
            if ended_cleanly:
                # The stream ended without a final event after `last`: the job may be final already
                # (a resumed watch of a finished job), or the gateway went away. Ask which.
                job = self.get_job(job_id)
                if job.is_final and received == 0:
                    return job
            if failures >= 3:
                log.info("events of %s failed %d times in a row: polling instead", job_id, failures)
                return None
            time.sleep(_bounded(delay, deadline))

    def _poll(
        self,
        job_id: str,
        deadline: Optional[float],
        timeout: Optional[float],
        interval: float,
        max_interval: float,
        on_poll: Optional[Callable[[Job], None]],
    ) -> Job:
        while True:
            job = self.get_job(job_id)
            if on_poll is not None:
                on_poll(job)
            if job.is_final:
                return job
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                raise JobWaitTimeout(job_id, job.state, timeout or 0)
            time.sleep(_bounded(interval, deadline))
            interval = min(max_interval, interval * 1.5)

    def _state_quietly(self, job_id: str) -> Optional[str]:
        try:
            return self.get_job(job_id).state
        except (DiffdaError, *TRANSPORT_ERRORS):
            return None

    # --- artifacts and downloads ---------------------------------------------------------------

    def list_artifacts(
        self, job_id: str, *, prefix: Optional[str] = None, limit: Optional[int] = None
    ) -> List[Artifact]:
        """The job's artifacts in key order (``synthetic/…``, ``adapter/…``, ``checkpoint/…``),
        following the pages; at most ``limit`` of them."""
        out: List[Artifact] = []
        after: Optional[str] = None
        while limit is None or len(out) < limit:
            page = self._json(
                "GET",
                f"/v1/jobs/{_quote(job_id)}/artifacts",
                query={"prefix": prefix, "after": after, "limit": 1000},
            )
            out.extend(Artifact.from_json(a) for a in page["items"])
            after = page.get("nextAfter")
            if after is None:
                break
        return out if limit is None else out[:limit]

    def download_artifact(self, job_id: str, key: Union[str, Artifact], dest: PathLike) -> Path:
        """Saves one artifact (by key, or as listed) to the file ``dest``."""
        key_text = key.key if isinstance(key, Artifact) else key
        path = f"/v1/jobs/{_quote(job_id)}/artifacts/" + "/".join(_quote(p) for p in key_text.split("/"))
        return self._download(path, None, Path(dest))

    def download_synthetic(
        self,
        job_id: str,
        dest: PathLike,
        *,
        format: str = "zip",
        method: Optional[str] = None,
        seed: Optional[int] = None,
        shard_size: Optional[int] = None,
        shard: Optional[int] = None,
    ) -> Path:
        """Streams the synthetic set to the file ``dest``: ``zip`` (with ``manifest.json``),
        ``imagefolder`` (a zip with ``train/metadata.jsonl``) or ``webdataset`` (a tar of shard tars,
        or with ``shard`` that one shard as a plain tar). See docs/formats.md."""
        if format not in SYNTHETIC_FORMATS:
            raise ValueError(f"format must be one of {SYNTHETIC_FORMATS}, not {format!r}")
        query = {"format": format, "method": method, "seed": seed, "shardSize": shard_size, "shard": shard}
        return self._download(f"/v1/jobs/{_quote(job_id)}/synthetic", query, Path(dest))

    def fetch_synthetic(
        self,
        job_id: str,
        dest: PathLike,
        *,
        format: str = "imagefolder",
        method: Optional[str] = None,
        seed: Optional[int] = None,
        shard_size: Optional[int] = None,
        shard: Optional[int] = None,
    ) -> Path:
        """Downloads the synthetic set and unpacks it into the folder ``dest``, ready for a trainer:
        ``zip`` and ``imagefolder`` extracted (``dest/train/metadata.jsonl`` for the latter),
        ``webdataset`` as a folder of shards ``synthetic-000000.tar`` … (a single ``shard`` is saved
        under its own name). Returns ``dest``."""
        folder = Path(dest)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="diffda-") as scratch:
            archive = self.download_synthetic(
                job_id,
                Path(scratch) / "download",
                format=format,
                method=method,
                seed=seed,
                shard_size=shard_size,
                shard=shard,
            )
            if format != "webdataset":
                archives.extract_zip(archive, folder)
            elif shard is not None:
                shutil.move(str(archive), str(folder / f"synthetic-{shard:06d}.tar"))
            elif archives.is_tar_of_tars(archive):
                archives.extract_tar(archive, folder)
            # An empty set is a tar without shards: the folder stays empty.
        return folder

    def _download(self, path: str, query: Optional[Mapping[str, Any]], dest: Path) -> Path:
        """Streams a GET to ``dest`` through a temporary file beside it, so that a cut-off download
        never looks complete; a connection lost mid-body starts the download again."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        attempt = 0
        while True:
            attempt += 1
            fd, partial = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    response = self.transport.open("GET", path, query=query, headers={"Accept": "*/*"})
                    with response:
                        expected = response.headers.get("Content-Length")
                        written = 0
                        while True:
                            chunk = response.read(_CHUNK)
                            if not chunk:
                                break
                            out.write(chunk)
                            written += len(chunk)
                        if expected is not None and written != int(expected):
                            raise http.client.IncompleteRead(b"", int(expected) - written)
                os.replace(partial, dest)
                return dest
            except (http.client.HTTPException, ConnectionError, socket.timeout) as error:
                if attempt >= self.transport.max_attempts:
                    raise DiffdaError(0, "unreachable", f"download of {path} failed", str(error)) from error
                time.sleep(self.transport.backoff_delay(attempt))
            finally:
                if os.path.exists(partial):
                    os.unlink(partial)


def _read_events(
    response: http.client.HTTPResponse, after: int, parser: Optional[SseParser] = None
) -> Iterator[Event]:
    """The events of an open stream with ids after ``after`` (a resumed stream may repeat some)."""
    parser = parser or SseParser(str(after) if after else None)
    for line in iter(response.readline, b""):
        for frame in parser.push(line.decode("utf-8")):
            event = Event.from_json(json.loads(frame.data))
            if event.id <= after:
                continue
            after = event.id
            yield event


def _remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else deadline - time.monotonic()


def _bounded(seconds: float, deadline: Optional[float]) -> float:
    remaining = _remaining(deadline)
    return seconds if remaining is None else max(0.0, min(seconds, remaining))


def _builtin_kwargs(source: Mapping[str, Any]) -> Dict[str, Any]:
    known = {"builtin": "builtin", "shots": "shots", "seed": "seed", "classes": "classes"}
    known.update({"testPerClass": "test_per_class", "test_per_class": "test_per_class", "name": "name"})
    unknown = set(source) - set(known)
    if unknown:
        raise ValueError(f"unknown built-in dataset fields: {sorted(unknown)}")
    if "shots" not in source:
        raise ValueError("a built-in dataset needs shots (train images per class)")
    return {known[k]: v for k, v in source.items()}
