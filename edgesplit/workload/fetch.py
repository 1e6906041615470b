"""Download of the real Alibaba v2018 batch_task archive into a cache dir, resumable and checksummed."""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from edgesplit.workload.trace_types import TraceError

DEFAULT_URL = "http://aliopentrace.oss-cn-beijing.aliyuncs.com/v2018Traces/batch_task.tar.gz"
# sha256 published with the trace (alibaba/clusterdata, cluster-trace-v2018/trace_2018.md, "Checksum").
KNOWN_SHA256 = {DEFAULT_URL: "7c4b32361bd1ec2083647a8f52a6854a03bc125ca5c202652316c499fbf978c6"}
CHUNK = 1 << 20


def cache_dir(override: str | Path | None = None) -> Path:
    """Where traces are kept: `override`, else $EDGESPLIT_CACHE/traces, else ~/.cache/edgesplit/traces."""
    if override:
        return Path(override).expanduser()
    root = os.environ.get("EDGESPLIT_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "edgesplit"
    return base / "traces"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _checksum_file(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _verify(dest: Path, expected: str, source: str) -> str:
    actual = sha256_of(dest)
    if actual != expected.lower():
        raise TraceError(
            f"sha256 mismatch: expected {expected.lower()} ({source}), got {actual}; "
            "delete the file (or pass --force) to download it again",
            where=str(dest),
        )
    return actual


def fetch_trace(
    url: str = DEFAULT_URL,
    dest_dir: str | Path | None = None,
    *,
    sha256: str | None = None,
    force: bool = False,
    progress: bool = True,
    timeout_s: float = 60.0,
    console: Console | None = None,
) -> Path:
    """Download `url` into the cache dir and return the file's path.

    An interrupted download leaves `<name>.part`; the next call resumes it with an HTTP Range
    request (or starts again if the server ignores ranges). The file is checked against `sha256`,
    else the checksum published for the default URL, else the `<name>.sha256` written next to it
    on its first full download. A file already there is verified, not downloaded again, unless
    `force`. Network, HTTP and checksum problems raise TraceError; a freshly downloaded file that
    fails its checksum is deleted.
    """
    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    directory = cache_dir(dest_dir)
    dest = directory / name
    part = directory / (name + ".part")
    sums = _checksum_file(dest)
    expected, source = (sha256, "--sha256") if sha256 else (KNOWN_SHA256.get(url), "published checksum")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TraceError(f"cannot create the cache dir: {err}", where=str(directory)) from err

    if force:
        for p in (dest, part, sums):
            p.unlink(missing_ok=True)
    if dest.exists():
        if expected is None and sums.exists():
            expected, source = sums.read_text().split()[0], f"{sums.name}"
        if expected is not None:
            _verify(dest, expected, source)
        return dest

    _download(url, part, progress=progress, timeout_s=timeout_s, console=console)
    part.replace(dest)
    if expected is not None:
        try:
            actual = _verify(dest, expected, source)
        except TraceError:
            dest.unlink(missing_ok=True)
            raise
    else:
        actual = sha256_of(dest)
    sums.write_text(f"{actual}  {dest.name}\n")
    return dest


def _download(url: str, part: Path, *, progress: bool, timeout_s: float, console: Console | None) -> None:
    """Fetch `url` into `part`, resuming from its current size when the server honours Range."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "edgesplit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the .part is not a prefix we can extend: start again
            part.unlink()
            return _download(url, part, progress=progress, timeout_s=timeout_s, console=console)
        raise TraceError(f"download failed: HTTP {err.code} {err.reason}", where=url) from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise TraceError(f"download failed: {reason}", where=url) from err

    with response:
        resumed = have > 0 and response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        bar = Progress(*columns, console=console or Console(stderr=True), disable=not progress)
        got = have
        with bar, open(part, "ab" if resumed else "wb") as out:
            task = bar.add_task(("resuming " if resumed else "") + part.name[: -len(".part")], total=total)
            bar.update(task, completed=have)
            try:
                while block := response.read(CHUNK):
                    out.write(block)
                    got += len(block)
                    bar.update(task, completed=got)
            except (http.client.IncompleteRead, OSError) as err:
                raise TraceError(
                    f"download interrupted after {got} bytes ({err.__class__.__name__}); "
                    "run the command again to resume",
                    where=url,
                ) from err
    if total is not None and got != total:
        raise TraceError(f"download incomplete: {got} of {total} bytes; run the command again to resume", where=url)
