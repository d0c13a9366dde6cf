"""The preparation report written next to the prepared data: split counts, duplicates, skips."""

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from vit_jax.common import files
from vit_jax.data import SKIPPED_FILE
from vit_jax.data.folder_scan import FolderScan
from vit_jax.data.splits import SPLITS, duplicate_groups, split_of

REPORT_FILE = "split_report.json"


def build_report(
    *, source_dir: Path, class_names: Sequence[str], scan: FolderScan, evaluation_only: bool = False
) -> dict:
    """Counts per split and class, byte-identical duplicate groups, ignored and skipped files.
    With `evaluation_only` every image counts in the test split."""
    counts = {split: dict.fromkeys(class_names, 0) for split in SPLITS}
    for image in scan.images:
        split = "test" if evaluation_only else split_of(digest=image.digest)
        counts[split][class_names[image.label]] += 1
    named_digests = ((image.name, image.digest) for image in scan.images)
    return {
        "source_fingerprint": scan.source_fingerprint,
        "evaluation_only": evaluation_only,
        "content_fingerprint": content_fingerprint(scan=scan),
        "source_dir": str(source_dir),
        "class_names": list(class_names),
        "split_counts": counts,
        "duplicate_groups": duplicate_groups(named_digests=named_digests),
        "ignored": scan.ignored,
        "skipped": [{"path": path, "reason": reason} for path, reason in scan.unreadable],
    }


def content_fingerprint(*, scan: FolderScan) -> str:
    """SHA-256 over every stored image's name, label and content digest: equal for two
    preparations exactly when they hold the same examples in the same splits."""
    sha = hashlib.sha256()
    for image in sorted(scan.images, key=lambda image: image.name):
        sha.update(f"{image.name}\t{image.label}\t{image.digest}\n".encode())
    return sha.hexdigest()


def write_report(*, directory: Path, report: dict, skip_bad_images: bool) -> None:
    """Writes REPORT_FILE, and SKIPPED_FILE (one path a line) when bad images are skipped."""
    directory.mkdir(parents=True, exist_ok=True)
    files.write_text(directory / REPORT_FILE, json.dumps(report, indent=2) + "\n")
    if skip_bad_images:
        skipped = "".join(f"{item['path']}\n" for item in report["skipped"])
        files.write_text(directory / SKIPPED_FILE, skipped)


def read_report(*, directory: Path) -> dict:
    return json.loads((directory / REPORT_FILE).read_text())


def format_report(*, report: dict) -> str:
    """Human-readable summary: a count table, duplicate groups, ignored and skipped files."""
    names = report["class_names"]
    width = max(len(name) for name in [*names, "validation", "total"]) + 2
    lines = ["split".ljust(width) + "".join(n.rjust(width) for n in [*names, "total"])]
    for split, counts in report["split_counts"].items():
        row = [counts[name] for name in names]
        lines.append(split.ljust(width) + "".join(str(c).rjust(width) for c in [*row, sum(row)]))
    groups = report["duplicate_groups"]
    lines.append(f"byte-identical duplicate groups (each kept, all in one split): {len(groups)}")
    lines += [f"  {' == '.join(group)}" for group in groups]
    if report["ignored"]:
        lines.append(f"ignored (not an image in a class folder): {len(report['ignored'])}")
        lines += [f"  {name}" for name in report["ignored"]]
    if report["skipped"]:
        lines.append(f"skipped unreadable files: {len(report['skipped'])}")
        lines += [f"  {item['path']}: {item['reason']}" for item in report["skipped"]]
    return "\n".join(lines)
