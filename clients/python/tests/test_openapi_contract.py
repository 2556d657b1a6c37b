"""The client against the gateway's own OpenAPI document: every route it calls exists with that method,
and its dataclasses name every field the response schemas document (so a field the API adds shows up
here as a test to update, not as data the client silently drops)."""

from __future__ import annotations

import dataclasses
import re
import unittest
from typing import Any, Dict, Iterable

from support import live_client, live_gateway

from diffda import models

# (method, OpenAPI path) of every call the client makes.
ROUTES = [
    ("get", "/readyz"),
    ("get", "/openapi.json"),
    ("get", "/v1/methods"),
    ("get", "/v1/datasets"),
    ("post", "/v1/datasets"),
    ("get", "/v1/datasets/{id}"),
    ("delete", "/v1/datasets/{id}"),
    ("get", "/v1/datasets/{id}/files"),
    ("get", "/v1/jobs"),
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("delete", "/v1/jobs/{id}"),
    ("post", "/v1/jobs/{id}/cancel"),
    ("get", "/v1/jobs/{id}/events"),
    ("get", "/v1/jobs/{id}/artifacts"),
    ("get", "/v1/jobs/{id}/artifacts/{key}"),
    ("get", "/v1/jobs/{id}/synthetic"),
]

# API fields the dataclasses hold under another name (or split in two).
RENAMED = {"bytes": "size", "class": "class_name"}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def fields(cls: Any) -> set:
    return {f.name for f in dataclasses.fields(cls)}


def properties(schema: Dict[str, Any]) -> Iterable[str]:
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            if option.get("type") == "object":
                return option.get("properties", {}).keys()
    return schema.get("properties", {}).keys()


def pick(schema: Dict[str, Any]) -> Dict[str, Any]:
    """The object of a nullable (anyOf object | null) schema."""
    for option in schema.get("anyOf", []):
        if option.get("type") == "object":
            return option
    return schema


_WHOLE = object()


def dereferenced(doc: Any, node: Any = _WHOLE) -> Any:
    """A copy of the document with every local $ref replaced by what it points to."""
    node = doc if node is _WHOLE else node
    if isinstance(node, list):
        return [dereferenced(doc, item) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str):
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        rest = {key: value for key, value in node.items() if key != "$ref"}
        return {**dereferenced(doc, target), **dereferenced(doc, rest)}
    return {key: dereferenced(doc, value) for key, value in node.items()}


class OpenApiContractTest(unittest.TestCase):
    doc: Dict[str, Any]

    @classmethod
    def setUpClass(cls) -> None:
        live_gateway()
        # Named schemas arrive as $refs into components.schemas; the checks read them in place.
        cls.doc = dereferenced(live_client().openapi())

    def response(self, method: str, path: str, status: str = "200") -> Dict[str, Any]:
        return self.doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]

    def assertNamesEvery(self, cls: Any, schema: Dict[str, Any], renamed: Dict[str, str] = RENAMED) -> None:
        documented = list(properties(schema))
        self.assertNotEqual(documented, [], f"no properties for {cls.__name__}: the schema moved")
        missing = [p for p in documented if renamed.get(p, snake(p)) not in fields(cls)]
        self.assertEqual(missing, [], f"{cls.__name__} lacks documented fields")

    def test_every_route_the_client_calls_is_documented(self) -> None:
        for method, path in ROUTES:
            with self.subTest(route=f"{method.upper()} {path}"):
                self.assertIn(method, self.doc["paths"].get(path, {}))

    def test_the_synthetic_query_parameters_exist(self) -> None:
        params = {p["name"] for p in self.doc["paths"]["/v1/jobs/{id}/synthetic"]["get"]["parameters"] if p["in"] == "query"}
        self.assertLessEqual({"format", "method", "seed", "shardSize", "shard"}, params)

    def test_the_dataclasses_name_every_documented_field(self) -> None:
        dataset = self.response("get", "/v1/datasets/{id}")
        self.assertNamesEvery(models.Dataset, dataset)
        self.assertNamesEvery(models.ImageShape, dataset["properties"]["image"])
        self.assertNamesEvery(models.BuiltinInfo, pick(dataset["properties"]["builtin"]))
        files = self.response("get", "/v1/datasets/{id}/files")
        self.assertNamesEvery(models.DatasetFile, files["properties"]["items"]["items"])

        job = self.response("get", "/v1/jobs/{id}")
        self.assertNamesEvery(models.Job, job)
        self.assertNamesEvery(models.TaskCounts, job["properties"]["tasks"])
        result = pick(job["properties"]["result"])
        self.assertNamesEvery(models.JobResult, result)
        method = result["properties"]["methods"]["items"]
        self.assertNamesEvery(
            models.MethodResult,
            method,
            {**RENAMED, "perClassAccuracy": "per_class_mean"},  # held as per_class_mean and per_class_std
        )
        self.assertNamesEvery(models.Run, method["properties"]["runs"]["items"])
        self.assertNamesEvery(models.MeanStd, method["properties"]["top1Accuracy"])
        gain = pick(method["properties"]["gainOverBaseline"])
        self.assertNamesEvery(models.Gain, gain)
        self.assertNamesEvery(models.Interval, pick(gain["properties"]["interval"]))
        self.assertNamesEvery(models.Generation, pick(method["properties"]["generation"]))
        self.assertNamesEvery(models.CpuSeconds, method["properties"]["cpuSeconds"])
        self.assertNamesEvery(models.Stage, result["properties"]["stages"]["additionalProperties"])
        self.assertNamesEvery(models.Resolution, result["properties"]["resolution"])
        self.assertNamesEvery(models.ResultWarning, result["properties"]["warnings"]["items"])

        summary = self.response("get", "/v1/jobs")["properties"]["items"]["items"]
        self.assertNamesEvery(models.JobSummary, summary)
        artifact = self.response("get", "/v1/jobs/{id}/artifacts")["properties"]["items"]["items"]
        self.assertNamesEvery(models.Artifact, artifact)
        method_preset = self.response("get", "/v1/methods")["properties"]["items"]["items"]
        self.assertNamesEvery(models.Method, method_preset)


if __name__ == "__main__":
    unittest.main()
