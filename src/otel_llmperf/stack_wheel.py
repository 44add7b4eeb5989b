# SPDX-License-Identifier: Apache-2.0
"""A wheel of the installed otel-llmperf for the stack's demo service (``stack init`` puts it in ``wheels/``).

A regular install is re-packed from its own files and dist-info: the installed package is the one the
demo runs, with no checkout and no build. An editable install has no installed copy to pack.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

DISTRIBUTION = "otel-llmperf"
WHEEL_NAME = "otel_llmperf"
# Written by the installer, not part of a wheel (RECORD is rebuilt).
INSTALLER_FILES = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
# Fixed timestamps: re-packing the same install gives the same bytes, so a re-run changes nothing.
EPOCH = (1980, 1, 1, 0, 0, 0)


class WheelError(Exception):
    """No wheel can be made or copied; the message says why and what to do instead."""


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _editable(direct_url: str | None) -> bool:
    if not direct_url:
        return False
    try:
        return bool(json.loads(direct_url).get("dir_info", {}).get("editable"))
    except (ValueError, AttributeError):
        return False


def repack_installed(destination: Path) -> Path:
    """Write a wheel of the installed distribution into ``destination``; its path."""
    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError:
        raise WheelError(f"{DISTRIBUTION} is not installed as a distribution") from None
    files = list(dist.files or [])
    info_dirs = {path.parts[0] for path in files if len(path.parts) == 2 and path.parts[0].endswith(".dist-info")}
    if _editable(dist.read_text("direct_url.json")) or not any(path.parts[0] == WHEEL_NAME for path in files):
        raise WheelError(f"{DISTRIBUTION} is an editable install (a checkout): there is no installed copy to pack")
    if len(info_dirs) != 1:
        raise WheelError(f"{DISTRIBUTION}'s dist-info directory cannot be told apart: {sorted(info_dirs)}")
    (info_dir,) = info_dirs
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    if not tags:
        raise WheelError(f"{info_dir}/WHEEL names no tag")
    entries: dict[str, bytes] = {}
    for path in files:
        parts = path.parts
        # `..` leads out of site-packages (the console script); pip writes that from entry_points.txt.
        if ".." in parts or "__pycache__" in parts or path.suffix == ".pyc":
            continue
        if parts[0] == info_dir and len(parts) == 2 and parts[1] in INSTALLER_FILES:
            continue
        entries[path.as_posix()] = Path(str(dist.locate_file(path))).read_bytes()
    record_name = f"{info_dir}/RECORD"
    # dist-info last, RECORD last of all: the order the wheel spec recommends.
    names = sorted(entries, key=lambda name: (name.startswith(f"{info_dir}/"), name))
    record = "".join(f"{name},{_hash(entries[name])},{len(entries[name])}\n" for name in names)
    record += f"{record_name},,\n"
    target = destination / f"{WHEEL_NAME}-{dist.version}-{tags[0]}.whl"
    destination.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in [*names, record_name]:
            info = zipfile.ZipInfo(name, EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, record.encode("utf-8") if name == record_name else entries[name])
    temporary.replace(target)
    return target


def copy_wheel(source: Path, destination: Path) -> Path:
    """Copy a given otel-llmperf wheel into ``destination``; its new path."""
    if not source.is_file():
        raise WheelError(f"--wheel {source}: no such file")
    if not (source.name.startswith(f"{WHEEL_NAME}-") and source.suffix == ".whl"):
        raise WheelError(f"--wheel {source}: not an otel-llmperf wheel (expected {WHEEL_NAME}-<version>-<tag>.whl)")
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / source.name
    if not (target.exists() and target.samefile(source)):
        shutil.copyfile(source, target)
    return target
