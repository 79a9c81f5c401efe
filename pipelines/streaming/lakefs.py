"""Where the lake lives: a local folder (the demo, tests) or an S3 prefix (the cloud), one interface.

The stream's lake sink writes through this and nothing else, so the exactly-once protocol
(deterministic file names, commit marker written after the data, partial files of an uncommitted
attempt removed before a retry) is the same code on both. Writes are atomic on both: locally a
temporary file renamed into place, on S3 a single PUT (S3 never shows a half-written object).

URIs: ``/abs/path`` or ``file:///abs/path``; ``s3://bucket/prefix`` (``s3a://`` — Hadoop's spelling,
used by the cloud stack's settings — means the same). ``AA_AWS_ENDPOINT`` points S3 at another
endpoint (moto locally); credentials come from the AWS SDK's default chain (IRSA on EKS).
"""

from __future__ import annotations

import functools
import io
import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs as pafs


class LakeUriError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Entry:
    """A file or folder of the lake: its lake-relative path, and its modification time (epoch ms)."""

    rel: str
    is_dir: bool
    mtime_ms: int | None

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Lake:
    """A lake root. ``uri`` is kept so the object can be shipped to Spark tasks and rebuilt there."""

    uri: str
    endpoint: str | None = None

    @classmethod
    def at(cls, where: str | Path, endpoint: str | None = None) -> Lake:
        uri = str(where)
        scheme = urllib.parse.urlparse(uri).scheme
        if scheme not in ("", "file", "s3", "s3a"):
            raise LakeUriError(f"lake location {uri!r}: expected a local path, file://, s3:// or s3a:// URI")
        if scheme in ("s3", "s3a") and not urllib.parse.urlparse(uri).netloc:
            raise LakeUriError(f"lake location {uri!r}: an S3 URI needs a bucket (s3://bucket/prefix)")
        return cls(uri, endpoint if endpoint is not None else os.environ.get("AA_AWS_ENDPOINT"))

    @property
    def is_s3(self) -> bool:
        return urllib.parse.urlparse(self.uri).scheme in ("s3", "s3a")

    @property
    def local_root(self) -> Path | None:
        """The folder, for a local lake (readers such as DuckDB take it directly)."""
        if self.is_s3:
            return None
        parsed = urllib.parse.urlparse(self.uri)
        return Path(parsed.path if parsed.scheme == "file" else self.uri)

    def _fs_root(self) -> tuple[pafs.FileSystem, str]:
        return _filesystem(self.uri, self.endpoint)

    def path(self, rel: str) -> str:
        """The filesystem path of a lake-relative path (for messages and for readers)."""
        _, root = self._fs_root()
        return f"{root}/{rel}" if not self.is_s3 else f"s3://{root}/{rel}"

    def write_bytes(self, rel: str, data: bytes) -> None:
        fs, root = self._fs_root()
        target = f"{root}/{rel}"
        if self.is_s3:
            with fs.open_output_stream(target) as out:  # one PUT: atomic
                out.write(data)
            return
        fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        tmp = f"{target}.tmp"
        with fs.open_output_stream(tmp) as out:
            out.write(data)
        os.replace(tmp, target)

    def write_json(self, rel: str, doc: Any) -> None:
        self.write_bytes(rel, json.dumps(doc, sort_keys=True).encode())

    def write_parquet(self, rel: str, table: pa.Table) -> None:
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.write_bytes(rel, buf.getvalue())

    def read_bytes(self, rel: str) -> bytes | None:
        fs, root = self._fs_root()
        try:
            with fs.open_input_stream(f"{root}/{rel}") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def read_json(self, rel: str) -> Any | None:
        data = self.read_bytes(rel)
        return None if data is None else json.loads(data)

    def exists(self, rel: str) -> bool:
        fs, root = self._fs_root()
        return fs.get_file_info(f"{root}/{rel}").type == pafs.FileType.File

    def files(self, prefix: str = "") -> list[str]:
        """Lake-relative paths of every file under ``prefix`` (recursive, sorted)."""
        return [e.rel for e in self.entries(prefix, recursive=True) if not e.is_dir]

    def entries(self, prefix: str = "", recursive: bool = False) -> list[Entry]:
        """What is under ``prefix``: files and (non-recursive) folders, with modification times. One
        delimited LIST on S3, so a reader can walk the hive layout without listing the whole lake."""
        fs, root = self._fs_root()
        base = f"{root}/{prefix}".rstrip("/")
        try:
            infos = fs.get_file_info(pafs.FileSelector(base, recursive=recursive, allow_not_found=True))
        except FileNotFoundError:
            return []
        return sorted(
            Entry(
                i.path[len(root) + 1 :],
                i.type == pafs.FileType.Directory,
                int(i.mtime.timestamp() * 1000) if i.mtime is not None else None,
            )
            for i in infos
            if i.type in (pafs.FileType.File, pafs.FileType.Directory)
        )

    def read_table(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        """One Parquet file (only ``columns`` that it has, when given)."""
        fs, root = self._fs_root()
        with fs.open_input_file(f"{root}/{rel}") as f:
            pf = pq.ParquetFile(f)
            names = pf.schema_arrow.names
            return pf.read(columns=[c for c in columns if c in names] if columns is not None else None)

    def dataset(self) -> ds.Dataset:
        """The events as one hive-partitioned Parquet dataset (``_commits``/``_ledger`` are skipped)."""
        fs, root = self._fs_root()
        return ds.dataset(root, filesystem=fs, format="parquet", partitioning="hive")

    def delete(self, rels: list[str]) -> None:
        fs, root = self._fs_root()
        for rel in rels:
            fs.delete_file(f"{root}/{rel}")


@functools.lru_cache(maxsize=16)
def _filesystem(uri: str, endpoint: str | None) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path of a lake location, built once per process (an S3 client per
    file written would be a new connection pool each time on the stream's write path)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("s3", "s3a"):
        local = Path(parsed.path if parsed.scheme == "file" else uri)
        return pafs.LocalFileSystem(), str(local.resolve())
    options: dict[str, Any] = {
        "region": os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    }
    if endpoint:
        ep = urllib.parse.urlparse(endpoint)
        options |= {"endpoint_override": ep.netloc, "scheme": ep.scheme or "https"}
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            # a local moto endpoint accepts any credentials; never used against AWS
            options |= {"access_key": "local", "secret_key": "local"}
    return pafs.S3FileSystem(**options), f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
