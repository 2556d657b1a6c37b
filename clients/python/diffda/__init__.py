"""A client for diffda's REST API (standard library only): upload datasets, submit jobs, follow them,
download the synthetic sets, and check webhook signatures.

    from diffda import Client
    client = Client("http://127.0.0.1:8080", api_key="dda_…")
    dataset = client.upload_dataset("pets/")
    job = client.wait(client.generate(dataset, ["diff-mix"]).id)
    client.fetch_synthetic(job.id, "synthetic/", format="imagefolder")
"""

from .client import SYNTHETIC_FORMATS, Client
from .errors import DiffdaError, FieldError, JobWaitTimeout, WebhookVerificationError
from .models import (
    Artifact,
    CpuSeconds,
    Dataset,
    DatasetFile,
    Event,
    Gain,
    Generation,
    Interval,
    Job,
    JobResult,
    JobSummary,
    MeanStd,
    Method,
    MethodResult,
    Page,
    Resolution,
    ResultWarning,
    SearchTrace,
    Run,
    Stage,
    TaskCounts,
)
from .webhooks import verify_webhook

__version__ = "0.1.0"

__all__ = [
    "SYNTHETIC_FORMATS",
    "Artifact",
    "Client",
    "CpuSeconds",
    "Dataset",
    "DatasetFile",
    "DiffdaError",
    "Event",
    "FieldError",
    "Gain",
    "Generation",
    "Interval",
    "Job",
    "JobResult",
    "JobSummary",
    "JobWaitTimeout",
    "MeanStd",
    "Method",
    "MethodResult",
    "Page",
    "Resolution",
    "ResultWarning",
    "SearchTrace",
    "Run",
    "Stage",
    "TaskCounts",
    "WebhookVerificationError",
    "verify_webhook",
]
