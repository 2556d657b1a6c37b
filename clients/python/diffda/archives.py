"""Archives on the client side: an ImageFolder directory zipped for upload, an archive's media type by
its magic bytes (as the gateway judges it), and the synthetic-set downloads unpacked without letting an
entry name escape the destination folder."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, List, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]



def archive_media_type(head: bytes) -> str:
    """The Content-Type of an archive from its first 262 bytes: gzip (a .tar.gz), tar, else zip.

    The gateway reads the family from the Content-Type and refuses bytes of another family, so the
    type comes from the bytes, not from the file's name.
    """
    if head[:2] == b"\x1f\x8b":
        return "application/gzip"
    if head[257:262] == b"ustar":
        return "application/x-tar"
    return "application/zip"


def _visible(path: Path) -> List[Path]:
    return sorted(p for p in path.iterdir() if not p.name.startswith("."))


def has_split_layout(root: Path) -> bool:
    """The user's own split: the top level is exactly ``train/`` and ``test/`` holding class folders."""
    top = _visible(root)
    if sorted(p.name for p in top) != ["test", "train"] or not all(p.is_dir() for p in top):
        return False
    return any(p.is_dir() for p in _visible(root / "train"))


def image_folder_entries(root: PathLike) -> List[Tuple[str, Path]]:
    """The files of an ImageFolder directory as (archive name, path): ``<class>/<image>``, or
    ``train/<class>/<image>`` and ``test/<class>/<image>``. Hidden entries are skipped."""
    base = Path(root)
    if not base.is_dir():
        raise ValueError(f"{root}: not a directory")
    parts = ["train", "test"] if has_split_layout(base) else [""]
    entries: List[Tuple[str, Path]] = []
    for part in parts:
        folder = base / part if part else base
        prefix = f"{part}/" if part else ""
        for class_dir in _visible(folder):
            if not class_dir.is_dir():
                raise ValueError(f"{class_dir}: expected only class folders in {folder}")
            for image in _visible(class_dir):
                if not image.is_file():
                    raise ValueError(f"{image}: expected only image files in a class folder")
                entries.append((f"{prefix}{class_dir.name}/{image.name}", image))
    if not entries:
        raise ValueError(f"{root}: no images (expected <class>/<image> or train/ and test/ folders)")
    return entries


def zip_image_folder(root: PathLike) -> BinaryIO:
    """An ImageFolder directory as a zip in an anonymous temporary file, at offset 0."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, path in image_folder_entries(root):
            archive.write(path, name)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _safe_target(dest: Path, name: str) -> Path:
    """Where entry ``name`` goes under ``dest``; refuses names that are absolute or climb out."""
    pure = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or pure.is_absolute()
        or any(part in ("..", "") for part in name.rstrip("/").split("/"))
        or (len(pure.parts) > 0 and ":" in pure.parts[0])
    ):
        raise ValueError(f"unsafe archive entry name {name!r}")
    return dest.joinpath(*pure.parts)


def extract_zip(archive: Union[PathLike, BinaryIO], dest: PathLike) -> List[Path]:
    """Extracts a zip into ``dest`` (created); returns the files written."""
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            target = _safe_target(out, info.filename)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written.append(target)
    return written


def extract_tar(archive: Union[PathLike, BinaryIO], dest: PathLike) -> List[Path]:
    """Extracts a tar's regular files into ``dest`` (created); links, devices and FIFOs are refused."""
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    opened = (
        tarfile.open(fileobj=archive, mode="r:*")  # type: ignore[arg-type]
        if hasattr(archive, "read")
        else tarfile.open(archive, mode="r:*")  # type: ignore[arg-type]
    )
    with opened as tar:
        for member in tar:
            target = _safe_target(out, member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if not member.isfile():
                raise ValueError(f"archive entry {member.name!r} is not a regular file")
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None  # a regular file always has data
            with src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written.append(target)
    return written


def is_tar_of_tars(path: PathLike) -> bool:
    """Whether a WebDataset download is the whole set (a tar of shard tars) rather than one shard."""
    with tarfile.open(path, mode="r:*") as tar:
        names = [m.name for m in tar if m.isfile()]
    return bool(names) and all(n.endswith(".tar") for n in names)


__all__ = [
    "archive_media_type",
    "extract_tar",
    "extract_zip",
    "has_split_layout",
    "image_folder_entries",
    "is_tar_of_tars",
    "zip_image_folder",
]
