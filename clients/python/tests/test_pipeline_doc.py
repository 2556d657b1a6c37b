"""docs/pipelines.md's task functions, taken from the page as written and run against the live gateway:
the example must keep working as the client changes."""

from __future__ import annotations

import json
import os
import re
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from support import image_folder, live_gateway

DOC = Path(__file__).resolve().parents[3] / "docs" / "pipelines.md"


def doc_namespace() -> dict:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    if not blocks:
        raise AssertionError(f"no python block in {DOC}")
    namespace: dict = {"__name__": "pipeline_doc"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


class PipelineDocTest(unittest.TestCase):
    def test_the_airflow_style_task_uploads_generates_and_hands_over_an_imagefolder(self) -> None:
        url, api_key, _ = live_gateway()
        namespace = doc_namespace()
        with tempfile.TemporaryDirectory(prefix="diffda-py-pipeline-") as tmp, mock.patch.dict(
            os.environ, {"DIFFDA_URL": url, "DIFFDA_API_KEY": api_key}
        ):
            real = image_folder(Path(tmp) / "real", {"cat": 3, "dog": 3})
            work = Path(tmp) / "work"
            out = namespace["augment_with_diffda"](str(real), str(work), run_id="doc-test")
            rows = (Path(out["synthetic"]) / "metadata.jsonl").read_text().splitlines()
            self.assertGreater(out["images"], 0)
            self.assertEqual(len(rows), out["images"])
            self.assertEqual({json.loads(r)["method"] for r in rows}, {"diff-mix"})

            # A retried task picks the same job up again instead of generating twice.
            again = namespace["augment_with_diffda"](str(real), str(work), run_id="doc-test")
            self.assertEqual(again["jobId"], out["jobId"])

            namespace["train_classifier"](str(real), out["synthetic"])


if __name__ == "__main__":
    unittest.main()
