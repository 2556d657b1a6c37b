"""The client's archive handling: folders zipped in the layout the gateway reads, media types from magic
bytes, and unpacking that keeps every entry inside its destination."""

from __future__ import annotations

import io
import tarfile
import tempfile
import unittest
import zipfile
from pathlib import Path

from support import image_folder, png

from diffda import archives


class ArchivesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="diffda-py-archives-")
        self.root = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_a_class_folder_layout_is_zipped_as_class_slash_image(self) -> None:
        folder = image_folder(self.root / "pets", {"cat": 2, "dog": 1})
        (folder / "cat" / ".hidden.png").write_bytes(png())
        with archives.zip_image_folder(folder) as spool, zipfile.ZipFile(spool) as z:
            self.assertEqual(sorted(z.namelist()), ["cat/0.png", "cat/1.png", "dog/0.png"])
            self.assertTrue(all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist()))
            self.assertEqual(z.read("dog/0.png"), (folder / "dog" / "0.png").read_bytes())

    def test_train_and_test_folders_keep_their_prefix(self) -> None:
        folder = self.root / "split"
        image_folder(folder, {"cat": 1}, prefix="train")
        image_folder(folder, {"cat": 1}, prefix="test")
        self.assertTrue(archives.has_split_layout(folder))
        names = [name for name, _ in archives.image_folder_entries(folder)]
        self.assertEqual(names, ["train/cat/0.png", "test/cat/0.png"])
        # Classes merely called train and test (images directly inside) are ordinary classes.
        plain = self.root / "plain"
        (plain / "train").mkdir(parents=True)
        (plain / "test").mkdir()
        (plain / "train" / "0.png").write_bytes(png())
        (plain / "test" / "0.png").write_bytes(png())
        self.assertFalse(archives.has_split_layout(plain))
        self.assertEqual(sorted(n for n, _ in archives.image_folder_entries(plain)), ["test/0.png", "train/0.png"])

    def test_stray_files_and_empty_folders_are_refused_before_upload(self) -> None:
        folder = image_folder(self.root / "stray", {"cat": 1})
        (folder / "notes.txt").write_text("x")
        with self.assertRaisesRegex(ValueError, "class folders"):
            archives.image_folder_entries(folder)
        (self.root / "empty").mkdir()
        with self.assertRaisesRegex(ValueError, "no images"):
            archives.image_folder_entries(self.root / "empty")

    def test_media_type_from_magic_bytes(self) -> None:
        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
            info = tarfile.TarInfo("cat/0.png")
            data = png()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        self.assertEqual(archives.archive_media_type(tar_bytes.getvalue()[:262]), "application/x-tar")
        self.assertEqual(archives.archive_media_type(b"\x1f\x8b\x08" + b"\0" * 300), "application/gzip")
        self.assertEqual(archives.archive_media_type(b"PK\x03\x04" + b"\0" * 300), "application/zip")

    def test_unpacking_refuses_entries_that_escape_or_are_links(self) -> None:
        evil_zip = self.root / "evil.zip"
        with zipfile.ZipFile(evil_zip, "w") as z:
            z.writestr("../outside.png", b"x")
        with self.assertRaisesRegex(ValueError, "unsafe"):
            archives.extract_zip(evil_zip, self.root / "out-zip")
        self.assertFalse((self.root / "outside.png").exists())

        link_tar = self.root / "link.tar"
        with tarfile.open(link_tar, "w") as tar:
            info = tarfile.TarInfo("shard.tar")
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
        with self.assertRaisesRegex(ValueError, "not a regular file"):
            archives.extract_tar(link_tar, self.root / "out-tar")

        absolute = self.root / "absolute.tar"
        with tarfile.open(absolute, "w") as tar:
            info = tarfile.TarInfo("/tmp/x.tar")
            tar.addfile(info, io.BytesIO(b""))
        with self.assertRaisesRegex(ValueError, "unsafe"):
            archives.extract_tar(absolute, self.root / "out-abs")


if __name__ == "__main__":
    unittest.main()
