"""The client against a live gateway (services/gateway/src/testing/serve-fake-compute.ts): a real gateway
app and orchestrator over an in-memory store, with fake compute whose scores are known in advance
(top-1 = 0.5 + synthetic images / 1000 + seed / 100; generation makes ``syntheticPerReal`` images per
real training image)."""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
import unittest
import uuid
import zipfile
from pathlib import Path

from support import image_folder, live_client, live_gateway

from diffda import Client, DiffdaError, Job


class LiveGatewayTest(unittest.TestCase):
    client: Client
    tmp: tempfile.TemporaryDirectory
    builtin_id: str
    generated: Job
    generate_events: list

    @classmethod
    def setUpClass(cls) -> None:
        live_gateway()
        cls.client = live_client()
        cls.tmp = tempfile.TemporaryDirectory(prefix="diffda-py-")
        # The tiny built-in behind every name: 2 classes (shoe, bag), 2 train and 2 test images each.
        cls.builtin_id = cls.client.upload_dataset({"builtin": "fashion-mnist", "shots": 2}).id
        cls.generate_events = []
        submitted = cls.client.generate(cls.builtin_id, ["diff-mix"], seeds=[0], name="py generate")
        cls.generated = cls.client.wait(submitted.id, on_event=cls.generate_events.append, timeout=30)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def path(self, name: str) -> Path:
        return Path(self.tmp.name) / name

    # --- methods and datasets ------------------------------------------------------------------

    def test_methods_list_the_presets_and_baselines(self) -> None:
        methods = {m.id: m for m in self.client.list_methods()}
        self.assertIn("diff-mix", methods)
        self.assertEqual(methods["no-augmentation"].kind, "baseline")
        self.assertIsNone(methods["no-augmentation"].generation)
        self.assertEqual(methods["diff-mix"].finetuning["method"], "ti_lora")

    def test_upload_an_image_folder_holds_out_a_test_split(self) -> None:
        root = image_folder(self.path("folder"), {"cat": 5, "dog": 5})
        (root / ".DS_Store").write_bytes(b"junk")  # hidden files stay out of the archive
        dataset = self.client.upload_dataset(root, name="pets", size=8, channels=1)
        self.assertEqual(dataset.kind, "upload")
        self.assertEqual(dataset.name, "pets")
        self.assertEqual(dataset.classes, ["cat", "dog"])
        self.assertEqual(dataset.image_count, 10)
        self.assertEqual(dataset.split, "holdout")
        self.assertEqual((dataset.image.channels, dataset.image.height, dataset.image.width), (1, 8, 8))
        self.assertEqual(dataset.train_count + dataset.test_count, 10)
        files = self.client.dataset_files(dataset.id)
        self.assertEqual(sorted(f.name for f in files), sorted(f"{c}/{i}.png" for c in ("cat", "dog") for i in range(5)))
        self.assertEqual(self.client.get_dataset(dataset.id).id, dataset.id)

    def test_upload_a_folder_with_train_and_test_keeps_the_users_split(self) -> None:
        root = self.path("split")
        image_folder(root, {"cat": 3, "dog": 3}, prefix="train")
        image_folder(root, {"cat": 1, "dog": 2}, prefix="test")
        dataset = self.client.upload_dataset(root)
        self.assertEqual(dataset.split, "user")
        self.assertEqual((dataset.train_count, dataset.test_count), (6, 3))
        test_files = self.client.dataset_files(dataset.id, split="test")
        self.assertEqual(sorted(f.name for f in test_files), ["test/cat/0.png", "test/dog/0.png", "test/dog/1.png"])

    def test_upload_tar_gz_tar_and_zip_archives(self) -> None:
        root = image_folder(self.path("archive-src"), {"bird": 3, "fish": 3})
        tgz = self.path("pets.tar.gz")
        with tarfile.open(tgz, "w:gz") as tar:
            tar.add(root, arcname=".")  # entries ./bird/0.png …: the gateway drops the ./
        plain = self.path("pets.tar")
        with tarfile.open(plain, "w") as tar:
            for c in ("bird", "fish"):
                tar.add(root / c, arcname=c)
        # A zip named .tar.gz: the media type comes from the bytes, not the name.
        misnamed = self.path("really-a-zip.tar.gz")
        with zipfile.ZipFile(misnamed, "w") as z:
            for c in ("bird", "fish"):
                for i in range(3):
                    z.write(root / c / f"{i}.png", f"{c}/{i}.png")
        for archive in (tgz, plain, misnamed):
            with self.subTest(archive=archive.name):
                dataset = self.client.upload_dataset(archive)
                self.assertEqual(dataset.classes, ["bird", "fish"])
                self.assertEqual(dataset.image_count, 6)

    def test_delete_a_dataset(self) -> None:
        dataset = self.client.upload_dataset({"builtin": "mnist", "shots": 1, "name": "to delete"})
        self.assertEqual(dataset.builtin.shots if dataset.builtin else None, 1)
        self.assertEqual(dataset.name, "to delete")
        self.client.delete_dataset(dataset.id)
        with self.assertRaises(DiffdaError) as caught:
            self.client.get_dataset(dataset.id)
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not_found"))

    # --- jobs ----------------------------------------------------------------------------------

    def test_generate_only_job_followed_by_events(self) -> None:
        job = self.generated
        self.assertEqual(job.state, "succeeded", job.error)
        self.assertEqual(job.kind, "generate")
        self.assertEqual(job.name, "py generate")
        types = [e.type for e in self.generate_events]
        self.assertEqual(types[0], "job.created")
        self.assertEqual(types[-1], "job.succeeded")
        self.assertIn("task.started", types)
        ids = [e.id for e in self.generate_events]
        self.assertEqual(ids, sorted(set(ids)), "each event once, in order")
        assert job.result is not None
        self.assertEqual(job.result.classes, ["shoe", "bag"])
        self.assertEqual([m.label for m in job.result.methods], ["diff-mix"])
        diff_mix = job.result.method("diff-mix")
        self.assertEqual(diff_mix.runs, [])
        self.assertIsNone(diff_mix.gain_over_baseline)
        assert diff_mix.generation is not None
        self.assertEqual(diff_mix.generation.images, 4 * 5)  # 4 train images × syntheticPerReal 5
        self.assertIn("generate", job.result.stages)
        self.assertNotIn("train", job.result.stages)

    def test_evaluating_job_waited_for_by_polling(self) -> None:
        submitted = self.client.submit_job(self.builtin_id, ["diff-mix"], seeds=[0, 1])
        self.assertEqual(submitted.state, "queued")
        polled: list = []
        events: list = []
        job = self.client.wait(
            submitted.id,
            follow_events=False,
            poll_interval=0.05,
            on_poll=polled.append,
            on_event=events.append,
            timeout=30,
        )
        self.assertEqual(job.state, "succeeded", job.error)
        self.assertEqual(events, [], "polling delivers jobs, not events")
        self.assertGreaterEqual(len(polled), 1)
        self.assertEqual(polled[-1].state, "succeeded")
        assert job.result is not None
        result = job.result
        self.assertEqual([m.label for m in result.methods], ["no-augmentation", "traditional", "diff-mix"])
        self.assertEqual(result.test_images, 4)
        baseline = result.method("no-augmentation")
        self.assertIsNone(baseline.gain_over_baseline)
        diff_mix = result.method("diff-mix")
        self.assertEqual([r.seed for r in diff_mix.runs], [0, 1])
        # The fake classifier: 0.5 + 20 synthetic images / 1000 + seed / 100.
        self.assertAlmostEqual(diff_mix.runs[0].top1_accuracy, 0.52)
        self.assertAlmostEqual(diff_mix.runs[1].top1_accuracy, 0.53)
        self.assertEqual(diff_mix.runs[0].synthetic_images, 20)
        self.assertIsNotNone(diff_mix.runs[0].steps)
        self.assertAlmostEqual(diff_mix.top1_accuracy.mean or 0, 0.525)
        self.assertEqual(diff_mix.top1_accuracy.n, 2)
        self.assertEqual(len(diff_mix.per_class_mean), 2)
        gain = diff_mix.gain_over_baseline
        assert gain is not None and gain.interval is not None
        self.assertEqual(gain.baseline, "no-augmentation")
        self.assertAlmostEqual(gain.mean or 0, 0.02)
        self.assertEqual(gain.interval.level, 0.95)
        self.assertEqual(gain.interval.seeds, 2)
        self.assertIsInstance(gain.interval.resolved, bool)
        self.assertIn("small_test_split", [w.code for w in result.warnings])
        assert result.resolution is not None
        self.assertEqual(result.resolution.classifier.height, 4)
        self.assertIsNotNone(diff_mix.cpu_seconds)

    def test_events_resume_after_a_last_event_id(self) -> None:
        job_id = self.generated.id
        everything = list(self.client.events(job_id))
        self.assertEqual([e.id for e in everything], [e.id for e in self.generate_events])
        middle = everything[len(everything) // 2].id
        rest = list(self.client.events(job_id, last_event_id=middle))
        self.assertEqual([e.id for e in rest], [e.id for e in everything if e.id > middle])
        self.assertTrue(rest[-1].is_final)
        # Waiting on a finished job from past its final event returns at once, delivering nothing.
        seen: list = []
        job = self.client.wait(job_id, on_event=seen.append, last_event_id=everything[-1].id, timeout=10)
        self.assertEqual((job.state, seen), ("succeeded", []))

    def test_list_cancel_and_delete_jobs(self) -> None:
        submitted = self.client.submit_job(self.builtin_id, ["diff-mix", "da-fusion"], seeds=[0, 1, 2])
        ids = [j.id for j in self.client.iter_jobs()]
        self.assertIn(submitted.id, ids)
        try:
            cancelled = self.client.cancel_job(submitted.id)
            self.assertEqual(cancelled.state, "cancelled")
        except DiffdaError as error:  # the fake compute finished it first
            self.assertEqual(error.code, "job_not_cancellable")
        final = self.client.wait(submitted.id, timeout=30)
        self.assertTrue(final.is_final)
        self.assertIn(submitted.id, [j.id for j in self.client.list_jobs(state=final.state, limit=100).items])
        self.client.delete_job(submitted.id)
        with self.assertRaises(DiffdaError) as caught:
            self.client.get_job(submitted.id)
        self.assertEqual(caught.exception.code, "not_found")

    # --- downloads -----------------------------------------------------------------------------

    def test_download_zip_with_its_manifest(self) -> None:
        archive = self.client.download_synthetic(self.generated.id, self.path("set.zip"), format="zip")
        with zipfile.ZipFile(archive) as z:
            manifest = json.loads(z.read("manifest.json"))
            names = set(z.namelist())
        self.assertEqual(manifest["jobId"], self.generated.id)
        self.assertEqual(manifest["classes"], ["shoe", "bag"])
        self.assertEqual(len(manifest["images"]), 20)
        for image in manifest["images"]:
            self.assertIn(image["file"], names)
            self.assertEqual(manifest["classes"][image["label"]], image["className"])
            self.assertTrue(image["file"].startswith(f"diff-mix/seed=0/{image['className']}/"))

    def test_fetch_imagefolder_rows_match_their_files_and_labels(self) -> None:
        folder = self.client.fetch_synthetic(self.generated.id, self.path("imagefolder"), format="imagefolder")
        metadata = folder / "train" / "metadata.jsonl"
        rows = [json.loads(line) for line in metadata.read_text().splitlines()]
        self.assertEqual(len(rows), 20)
        classes = ["shoe", "bag"]
        for row in rows:
            image = folder / "train" / row["file_name"]
            self.assertEqual(image.read_bytes()[:8], b"\x89PNG\r\n\x1a\n", row)
            self.assertEqual(row["file_name"].split("/")[0], row["class_name"])
            self.assertEqual(classes[row["label"]], row["class_name"])
            self.assertEqual((row["method"], row["seed"]), ("diff-mix", 0))
        self.assertEqual(len({(r["method"], r["seed"], r["sample_index"]) for r in rows}), 20)

    def test_fetch_webdataset_shards_carry_cls_equal_to_the_json_label(self) -> None:
        folder = self.client.fetch_synthetic(
            self.generated.id, self.path("shards"), format="webdataset", shard_size=8
        )
        shards = sorted(p.name for p in folder.iterdir())
        self.assertEqual(shards, ["synthetic-000000.tar", "synthetic-000001.tar", "synthetic-000002.tar"])
        total = 0
        for shard in shards:
            samples = _samples(folder / shard)
            total += len(samples)
            for key, parts in samples.items():
                self.assertEqual(sorted(parts), ["cls", "json", "png"], key)
                self.assertEqual(int(parts["cls"]), json.loads(parts["json"])["label"], key)
        self.assertEqual(total, 20)
        one = self.client.fetch_synthetic(
            self.generated.id, self.path("one-shard"), format="webdataset", shard_size=8, shard=2
        )
        self.assertEqual([p.name for p in one.iterdir()], ["synthetic-000002.tar"])
        self.assertEqual(len(_samples(one / "synthetic-000002.tar")), 4)

    def test_artifacts_listed_and_downloaded_by_key(self) -> None:
        synthetic = self.client.list_artifacts(self.generated.id, prefix="synthetic/")
        self.assertEqual(len(synthetic), 20)
        self.assertEqual(len(self.client.list_artifacts(self.generated.id, limit=3)), 3)
        first = synthetic[0]
        self.assertTrue(first.key.startswith("synthetic/diff-mix/seed=0/"))
        saved = self.client.download_artifact(self.generated.id, first, self.path("one.png"))
        data = saved.read_bytes()
        self.assertEqual(len(data), first.size)
        self.assertEqual(hashlib.sha256(data).hexdigest(), first.sha256)

    # --- errors --------------------------------------------------------------------------------

    def test_a_bad_request_raises_the_problem_with_its_stable_code(self) -> None:
        with self.assertRaises(DiffdaError) as caught:
            self.client.submit_job(self.builtin_id, [{"preset": "da-fusion", "generation": {"strength": 2}}])
        error = caught.exception
        self.assertEqual((error.status, error.code, error.title), (400, "validation_failed", "Validation failed"))
        self.assertIn("/body/methods/0/generation/strength", [e.field for e in error.errors])
        self.assertEqual(error.problem.get("instance"), "/v1/jobs")

        with self.assertRaises(DiffdaError) as caught:
            self.client.submit_job(str(uuid.uuid4()), ["diff-mix"])
        self.assertEqual((caught.exception.status, caught.exception.code), (422, "invalid_job_spec"))
        self.assertEqual([e.field for e in caught.exception.errors], ["/body/datasetId"])

        with self.assertRaises(DiffdaError) as caught:
            self.client.generate(self.builtin_id, ["no-augmentation"])
        self.assertEqual(caught.exception.code, "invalid_job_spec")

        with self.assertRaises(DiffdaError) as caught:
            self.client.download_synthetic(self.generated.id, self.path("x.tar"), format="zip", shard=1)
        self.assertEqual(caught.exception.code, "validation_failed")
        self.assertFalse(self.path("x.tar").exists(), "a refused download leaves no file")

    def test_keys_scopes_and_unknown_resources(self) -> None:
        reader = live_client("read")
        self.assertIn("diff-mix", [m.id for m in reader.list_methods()])
        # Another key's job does not exist for this one (404, not 403: ids cannot be probed).
        with self.assertRaises(DiffdaError) as caught:
            reader.get_job(self.generated.id)
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "not_found"))
        with self.assertRaises(DiffdaError) as caught:
            reader.upload_dataset({"builtin": "mnist", "shots": 1})
        self.assertEqual((caught.exception.status, caught.exception.code), (403, "forbidden"))
        url, _, _ = live_gateway()
        with self.assertRaises(DiffdaError) as caught:
            Client(url, api_key="dda_not_a_key").list_methods()
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "unauthorized"))
        with self.assertRaises(DiffdaError) as caught:
            self.client.wait(str(uuid.uuid4()), timeout=5)
        self.assertEqual(caught.exception.code, "not_found")


def _samples(path: Path) -> dict:
    """A WebDataset shard's samples by key (the name up to its first dot)."""
    samples: dict = {}
    with tarfile.open(path) as tar:
        for member in tar:
            key, ext = member.name.split(".", 1)
            src = tar.extractfile(member)
            assert src is not None
            samples.setdefault(key, {})[ext] = src.read()
    return samples



if __name__ == "__main__":
    unittest.main()
