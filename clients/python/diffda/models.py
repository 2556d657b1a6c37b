"""The gateway's resources as dataclasses, field for field as the API returns them (snake_case).

Each ``from_json`` reads the JSON the gateway sends; fields that older results lack (a run's ``steps``,
a gain's ``interval``, a method's ``cpu_seconds``) are ``None``. ``raw`` keeps the document as received,
so a field added to the API later is still reachable before this client names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Generic, List, Optional, TypeVar

T = TypeVar("T")

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})


def parse_time(value: Optional[str]) -> Optional[datetime]:
    """An ISO 8601 timestamp of the API as an aware datetime (3.9's fromisoformat does not read ``Z``)."""
    if value is None:
        return None
    return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)


def _opt(d: Dict[str, Any], key: str) -> Any:
    return d.get(key)


@dataclass(frozen=True)
class ImageShape:
    channels: int
    height: int
    width: int


@dataclass(frozen=True)
class BuiltinInfo:
    name: str
    shots: int
    seed: int
    test_per_class: Optional[int]


@dataclass(frozen=True)
class Dataset:
    """A registered dataset (``POST /v1/datasets``, ``GET /v1/datasets/{id}``)."""

    id: str
    name: str
    kind: str
    classes: List[str]
    image_count: int
    train_count: int
    test_count: int
    image: ImageShape
    builtin: Optional[BuiltinInfo]
    #: How the test split was made: ``builtin``, ``holdout`` or ``user``.
    split: str
    created_at: Optional[datetime]
    #: The phrase each class is prompted with (class name → phrase; the class name when not set).
    prompt_names: Dict[str, str] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Dataset":
        b = d.get("builtin")
        return cls(
            id=d["id"],
            name=d["name"],
            kind=d["kind"],
            classes=list(d["classes"]),
            image_count=d["imageCount"],
            train_count=d["trainCount"],
            test_count=d["testCount"],
            image=ImageShape(**d["image"]),
            builtin=BuiltinInfo(b["name"], b["shots"], b["seed"], b.get("testPerClass")) if b else None,
            split=d["split"],
            created_at=parse_time(d.get("createdAt")),
            prompt_names=dict(d.get("promptNames") or {}),
            raw=d,
        )


@dataclass(frozen=True)
class DatasetFile:
    """One image of ``GET /v1/datasets/{id}/files``."""

    name: str
    class_name: str
    split: str
    sha256: str

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "DatasetFile":
        return cls(d["name"], d["class"], d["split"], d["sha256"])


@dataclass(frozen=True)
class Method:
    """A method preset of ``GET /v1/methods`` (components as the API documents them)."""

    id: str
    name: str
    kind: str
    reference: str
    description: str
    finetuning: Dict[str, Any]
    generation: Optional[Dict[str, Any]]
    utilization: Dict[str, Any]
    source: str

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Method":
        return cls(
            d["id"],
            d["name"],
            d["kind"],
            d["reference"],
            d["description"],
            d["finetuning"],
            d.get("generation"),
            d["utilization"],
            d["source"],
        )


@dataclass(frozen=True)
class MeanStd:
    mean: Optional[float]
    #: Sample standard deviation (n − 1); None for one seed.
    std: Optional[float]
    n: int

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "MeanStd":
        return cls(d.get("mean"), d.get("std"), d["n"])


@dataclass(frozen=True)
class Interval:
    """The 95% paired bootstrap interval of a gain; ``resolved`` when it excludes 0."""

    low: float
    high: float
    level: float
    seeds: int
    images: int
    resolved: bool

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Interval":
        return cls(d["low"], d["high"], d["level"], d["seeds"], d["images"], d["resolved"])


@dataclass(frozen=True)
class Gain:
    """Top-1 minus the baseline's, paired by seed."""

    baseline: str
    mean: Optional[float]
    std: Optional[float]
    n: int
    interval: Optional[Interval]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Gain":
        i = d.get("interval")
        return cls(
            d["baseline"], d.get("mean"), d.get("std"), d["n"], Interval.from_json(i) if i else None
        )


@dataclass(frozen=True)
class Run:
    """One (method, seed) run: its classifier's scores and the compute it took."""

    seed: int
    top1_accuracy: float
    per_class_accuracy: List[Optional[float]]
    mean_loss: Optional[float]
    sample_count: int
    synthetic_images: int
    train_seconds: float
    epochs: Optional[int]
    batch_size: Optional[int]
    steps: Optional[int]
    images_seen: Optional[int]
    final_train_accuracy: Optional[float]
    #: The classifier's starting weights: ``scratch`` or a pretrained backbone's id (None: older results).
    backbone: Optional[str] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Run":
        return cls(
            seed=d["seed"],
            top1_accuracy=d["top1Accuracy"],
            per_class_accuracy=list(d["perClassAccuracy"]),
            mean_loss=d.get("meanLoss"),
            sample_count=d["sampleCount"],
            synthetic_images=d["syntheticImages"],
            train_seconds=d["trainSeconds"],
            epochs=_opt(d, "epochs"),
            batch_size=_opt(d, "batchSize"),
            steps=_opt(d, "steps"),
            images_seen=_opt(d, "imagesSeen"),
            final_train_accuracy=_opt(d, "finalTrainAccuracy"),
            backbone=d.get("backbone"),
        )


@dataclass(frozen=True)
class Generation:
    images: int
    seconds: float
    images_per_second: Optional[float]
    #: The base models the shards drew with: ``{"id", "sha256"}`` each (GET /v1/models lists them).
    models: List[Dict[str, str]] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Generation":
        return cls(d["images"], d["seconds"], d.get("imagesPerSecond"), list(d.get("models", [])))


@dataclass(frozen=True)
class CpuSeconds:
    """CPU seconds the compute services reported for one method (None: a task reported none)."""

    finetune: Optional[float]
    generate: Optional[float]
    train: Optional[float]
    evaluate: Optional[float]
    total: Optional[float]
    per_synthetic_image: Optional[float]
    per_synthetic_image_with_finetune: Optional[float]
    finetune_shared_with: List[str]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "CpuSeconds":
        return cls(
            d.get("finetune"),
            d.get("generate"),
            d.get("train"),
            d.get("evaluate"),
            d.get("total"),
            d.get("perSyntheticImage"),
            d.get("perSyntheticImageWithFinetune"),
            list(d.get("finetuneSharedWith") or []),
        )


@dataclass(frozen=True)
class MethodResult:
    """A method's (or baseline's) result over its seeds."""

    label: str
    preset: Optional[str]
    kind: str
    runs: List[Run]
    top1_accuracy: MeanStd
    per_class_mean: List[Optional[float]]
    per_class_std: List[Optional[float]]
    gain_over_baseline: Optional[Gain]
    generation: Optional[Generation]
    cpu_seconds: Optional[CpuSeconds]
    #: What filtering kept and dropped per run and class (None: the method did not filter); as sent.
    filtering: Optional[Dict[str, Any]] = None

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "MethodResult":
        per_class = d.get("perClassAccuracy") or {"mean": [], "std": []}
        gain = d.get("gainOverBaseline")
        gen = d.get("generation")
        cpu = d.get("cpuSeconds")
        return cls(
            label=d["label"],
            preset=d.get("preset"),
            kind=d["kind"],
            runs=[Run.from_json(r) for r in d["runs"]],
            top1_accuracy=MeanStd.from_json(d["top1Accuracy"]),
            per_class_mean=list(per_class["mean"]),
            per_class_std=list(per_class["std"]),
            gain_over_baseline=Gain.from_json(gain) if gain else None,
            generation=Generation.from_json(gen) if gen else None,
            cpu_seconds=CpuSeconds.from_json(cpu) if cpu else None,
            filtering=d.get("filtering"),
        )


@dataclass(frozen=True)
class Stage:
    tasks: int
    seconds: float
    cpu_seconds: Optional[float]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Stage":
        return cls(d["tasks"], d["seconds"], d.get("cpuSeconds"))


@dataclass(frozen=True)
class Size:
    height: int
    width: int


@dataclass(frozen=True)
class Resolution:
    """Sizes in pixels: the dataset's, the classifier's, and per method what the model generated."""

    dataset: Size
    classifier: Size
    generation: Dict[str, Size]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Resolution":
        return cls(
            Size(**d["dataset"]),
            Size(**d["classifier"]),
            {label: Size(**s) for label, s in d["generation"].items()},
        )


@dataclass(frozen=True)
class ResultWarning:
    """``small_test_split``, ``gain_unresolved``, ``resized`` or ``auto_no_gain``; ``method`` when it concerns one."""

    code: str
    message: str
    method: Optional[str]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "ResultWarning":
        return cls(d["code"], d["message"], d.get("method"))


@dataclass(frozen=True)
class SearchTrace:
    """How the ``auto`` method chose on the validation split (``JobResult.search``).

    ``chosen`` and each of ``candidates`` carry a ``setting`` (``preset``, ``strength``,
    ``replaceProbability``); ``evidence`` is the best candidate's validation gain over no augmentation with
    its paired interval. ``recommendation`` is ``augment`` or ``no_augmentation``.
    """

    label: str
    validation_images: int
    candidates: List[Dict[str, Any]]
    rungs: List[Dict[str, Any]]
    chosen: Optional[Dict[str, Any]]
    recommendation: Optional[str]
    evidence: Optional[Dict[str, Any]]
    cpu_seconds: Optional[float]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "SearchTrace":
        return cls(
            label=d["label"],
            validation_images=d["validationImages"],
            candidates=list(d["candidates"]),
            rungs=list(d["rungs"]),
            chosen=d.get("chosen"),
            recommendation=d.get("recommendation"),
            evidence=d.get("evidence"),
            cpu_seconds=d.get("cpuSeconds"),
        )


@dataclass(frozen=True)
class JobResult:
    """What a succeeded job reports (``Job.result``)."""

    classes: List[str]
    methods: List[MethodResult]
    stages: Dict[str, Stage]
    test_images: Optional[int]
    resolution: Optional[Resolution]
    warnings: List[ResultWarning]
    #: The ``auto`` method's search (None: the job had none).
    search: Optional[SearchTrace] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "JobResult":
        res = d.get("resolution")
        search = d.get("search")
        return cls(
            classes=list(d["classes"]),
            methods=[MethodResult.from_json(m) for m in d["methods"]],
            stages={kind: Stage.from_json(s) for kind, s in d["stages"].items()},
            test_images=d.get("testImages"),
            resolution=Resolution.from_json(res) if res else None,
            warnings=[ResultWarning.from_json(w) for w in d.get("warnings") or []],
            search=SearchTrace.from_json(search) if search else None,
            raw=d,
        )

    def method(self, label: str) -> MethodResult:
        """The result of the method (or baseline) called ``label``."""
        for m in self.methods:
            if m.label == label:
                return m
        raise KeyError(f"no method {label!r} in the result (have {[m.label for m in self.methods]})")


@dataclass(frozen=True)
class TaskCounts:
    pending: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    total: int


@dataclass(frozen=True)
class Job:
    """A job (``GET /v1/jobs/{id}``); ``spec`` is the resolved spec the gateway stored."""

    id: str
    name: Optional[str]
    state: str
    dataset_id: Optional[str]
    spec: Dict[str, Any]
    tasks: TaskCounts
    result: Optional[JobResult]
    error: Optional[Dict[str, Any]]
    created_at: Optional[datetime]
    updated_at: Optional[datetime]
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    links: Dict[str, str]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Job":
        result = d.get("result")
        return cls(
            id=d["id"],
            name=d.get("name"),
            state=d["state"],
            dataset_id=d.get("datasetId"),
            spec=d["spec"],
            tasks=TaskCounts(**d["tasks"]),
            result=JobResult.from_json(result) if result else None,
            error=d.get("error"),
            created_at=parse_time(d.get("createdAt")),
            updated_at=parse_time(d.get("updatedAt")),
            started_at=parse_time(d.get("startedAt")),
            finished_at=parse_time(d.get("finishedAt")),
            links=dict(d.get("links") or {}),
            raw=d,
        )

    @property
    def kind(self) -> str:
        """``evaluate`` or ``generate``."""
        return str(self.spec.get("kind", "evaluate"))

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class JobSummary:
    """A job in ``GET /v1/jobs`` (no spec, no result)."""

    id: str
    name: Optional[str]
    state: str
    dataset_id: Optional[str]
    created_at: Optional[datetime]
    finished_at: Optional[datetime]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "JobSummary":
        return cls(
            d["id"],
            d.get("name"),
            d["state"],
            d.get("datasetId"),
            parse_time(d.get("createdAt")),
            parse_time(d.get("finishedAt")),
        )


@dataclass(frozen=True)
class Artifact:
    """A job's file (``GET /v1/jobs/{id}/artifacts``); ``size`` is its length in bytes."""

    key: str
    kind: str
    sha256: str
    size: int
    media_type: str
    meta: Dict[str, Any]
    created_at: Optional[datetime]
    href: str

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Artifact":
        return cls(
            d["key"],
            d["kind"],
            d["sha256"],
            d["bytes"],
            d["mediaType"],
            dict(d.get("meta") or {}),
            parse_time(d.get("createdAt")),
            d["href"],
        )


@dataclass(frozen=True)
class Event:
    """One job event of ``GET /v1/jobs/{id}/events`` (``job.created``, ``task.progress`` …)."""

    id: int
    type: str
    created_at: Optional[datetime]
    data: Dict[str, Any]

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Event":
        return cls(int(d["id"]), str(d["type"]), parse_time(d.get("createdAt")), dict(d.get("data") or {}))

    @property
    def is_final(self) -> bool:
        """A ``job.succeeded``, ``job.failed`` or ``job.cancelled`` event: the stream ends after it."""
        return self.type in {f"job.{s}" for s in FINAL_STATES}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a cursor-paginated list; pass ``next_cursor`` as ``cursor`` for the next."""

    items: List[T]
    next_cursor: Optional[str]
