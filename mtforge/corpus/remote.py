"""Remote corpus sources: S3-compatible object stores (``s3://``) and Hugging Face datasets
(``hf://``).

S3 settings come from the environment: ``MTFORGE_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL``),
e.g. ``http://minio.kubeflow:9000`` (the scheme selects TLS; default
``https://s3.amazonaws.com``), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, optional
``AWS_SESSION_TOKEN`` and ``AWS_REGION`` / ``AWS_DEFAULT_REGION``; no keys means anonymous
access.

An ``s3://bucket/key`` source names the object ``key`` itself, the objects under ``key/``
(a directory) and the objects ``key.*`` (a file prefix such as ``multi30k/train`` for
``train.en``, ``train.de``); they are downloaded to a temporary directory that keeps the key
layout, and the local importers read them from there.

A Hugging Face source is ``hf://<dataset id>[?config=<name>&revision=<rev>]``; the id is a
hub id (``wmt/wmt16``) or a local dataset directory (``hf:///data/my_dataset``), both loaded
with :func:`datasets.load_dataset`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import urllib3
from minio import Minio
from minio.datatypes import Object
from minio.error import S3Error

from mtforge.corpus.manifest import file_sha256
from mtforge.errors import ConfigError, InputNotFoundError, MtforgeError, ObjectStoreUnavailableError

if TYPE_CHECKING:
    import datasets

S3_SCHEME = "s3://"
HF_SCHEME = "hf://"
_DEFAULT_ENDPOINT = "https://s3.amazonaws.com"


def _digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------------------- S3


def s3_endpoint() -> str:
    """The configured endpoint URL (``MTFORGE_S3_ENDPOINT``, else ``AWS_ENDPOINT_URL``)."""
    return os.environ.get("MTFORGE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or _DEFAULT_ENDPOINT


def s3_client() -> Minio:
    """A minio client for the endpoint and credentials in the environment."""
    endpoint = s3_endpoint()
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"S3 endpoint {endpoint!r} is not a URL like 'http://host:9000'")
    return Minio(
        parts.netloc,
        access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        session_token=os.environ.get("AWS_SESSION_TOKEN"),
        secure=parts.scheme == "https",
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    )


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``"s3://bucket/a/b"`` → ``("bucket", "a/b")``; raises :class:`ConfigError` without a bucket."""
    bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
    if not uri.startswith(S3_SCHEME) or not bucket:
        raise ConfigError(f"{uri!r} is not an S3 URI like 's3://bucket/prefix'")
    return bucket, key


def _selected(name: str, key: str) -> bool:
    """Whether object ``name`` belongs to the source ``key`` (see the module docstring)."""
    if not key or key.endswith("/"):
        return True
    return name == key or name.startswith((key + "/", key + "."))


@contextmanager
def _reachable(uri: str) -> Iterator[None]:
    """Turn a connection failure to the endpoint into :class:`ObjectStoreUnavailableError`."""
    try:
        yield
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ObjectStoreUnavailableError(
            f"{uri}: cannot reach the S3 endpoint {s3_endpoint()} ({reason}); set MTFORGE_S3_ENDPOINT "
            "(e.g. http://localhost:9000 through `kubectl port-forward svc/mtforge-minio 9000:9000`)") from None


def list_objects(uri: str, client: Minio | None = None) -> list[Object]:
    """The objects an ``s3://`` source names, sorted by key; :class:`InputNotFoundError` if
    none, :class:`ObjectStoreUnavailableError` if the endpoint cannot be reached."""
    client = client or s3_client()
    bucket, key = split_s3_uri(uri)
    try:
        with _reachable(uri):
            objects = [
                o
                for o in client.list_objects(bucket, prefix=key, recursive=True)
                if not o.is_dir and _selected(o.object_name, key)
            ]
    except S3Error as exc:
        if exc.code == "NoSuchBucket":
            raise InputNotFoundError(f"{uri}: bucket {bucket!r} does not exist at {s3_endpoint()}") from None
        raise MtforgeError(f"{uri}: S3 error at {s3_endpoint()}: {exc}") from None
    if not objects:
        raise InputNotFoundError(f"{uri}: no object {key!r} and nothing under it at {s3_endpoint()}")
    return sorted(objects, key=lambda o: o.object_name)


def _local_path(root: Path, bucket: str, name: str) -> Path:
    """Where object ``name`` goes under ``root``; refuses keys that would escape it."""
    path = (root / bucket / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise MtforgeError(f"refusing S3 key {name!r} in bucket {bucket!r}: it escapes the download directory")
    return path


def s3_upload(local: Path, uri: str, client: Minio | None = None,
              progress: Callable[[str, int], None] | None = None) -> list[str]:
    """Upload a file to the object ``uri``, or a directory's files to ``uri/<relative path>``;
    returns the object keys written and calls ``progress(key, bytes)`` after each file.
    :class:`InputNotFoundError` when ``local`` is missing; an S3 error names the URI."""
    client = client or s3_client()
    bucket, key = split_s3_uri(uri)
    if local.is_file():
        files = {key: local}
    elif local.is_dir():
        files = {f"{key.rstrip('/')}/{p.relative_to(local).as_posix()}": p for p in sorted(local.rglob("*")) if p.is_file()}
    else:
        raise InputNotFoundError(f"{local} does not exist: nothing to upload to {uri}")
    for name, path in files.items():
        try:
            with _reachable(uri):
                client.fput_object(bucket, name, str(path))
        except S3Error as exc:
            raise MtforgeError(f"cannot upload {path} to s3://{bucket}/{name}: {exc.code} {exc.message}") from None
        if progress:
            progress(name, path.stat().st_size)
    return list(files)


@contextmanager
def s3_download(source: str) -> Iterator[str]:
    """Download ``source`` (one ``s3://`` URI, or comma-separated ones) into a temporary
    directory, yield ``source`` with each URI replaced by its local path, and delete the
    directory afterwards."""
    client = s3_client()
    with tempfile.TemporaryDirectory(prefix="mtforge-s3-") as tmp:
        root = Path(tmp)
        local_parts = []
        for part in source.split(","):
            bucket, key = split_s3_uri(part)
            for obj in list_objects(part, client):
                client.fget_object(bucket, obj.object_name, str(_local_path(root, bucket, obj.object_name)))
            local_parts.append(str((root / bucket / key.rstrip("/")).resolve()))
        yield ",".join(local_parts)


@contextmanager
def as_local(source: str) -> Iterator[str]:
    """``source`` itself when it is a local path; an ``s3://`` URI downloaded for the duration
    (see :func:`s3_download`)."""
    if source.startswith("s3://"):
        with s3_download(source) as local:
            yield local
    else:
        yield source


def s3_fingerprint(source: str) -> str:
    """Fingerprint of the objects an ``s3://`` source (or comma-separated ones) names: their
    last two key components, ETags and sizes; nothing is downloaded."""
    client = s3_client()
    listing = [
        [["/".join(o.object_name.split("/")[-2:]), o.etag, o.size] for o in list_objects(part, client)]
        for part in source.split(",")
    ]
    return _digest({"kind": "s3", "objects": listing})


# ----------------------------------------------------------------------------- Hugging Face


@dataclass(frozen=True)
class HfRef:
    """A parsed ``hf://`` source."""

    id: str
    config: str | None = None
    revision: str | None = None

    @property
    def local(self) -> Path | None:
        """The local dataset directory when ``id`` is a path (absolute, ``./``, ``~`` or existing)."""
        path = Path(self.id).expanduser()
        explicit = self.id.startswith(("/", "./", "../", "~"))
        return path if explicit or path.exists() else None

    @property
    def label(self) -> str:
        """Short, location-independent name used in row origins."""
        name = self.local.name if self.local else self.id
        return "/".join(["hf:" + name, *([self.config] if self.config else [])])


def parse_hf_uri(source: str) -> HfRef:
    """Parse ``hf://<id>[?config=…&revision=…]`` (a bare id or path is accepted too)."""
    dataset_id, _, query = source.removeprefix(HF_SCHEME).partition("?")
    params = parse_qs(query, strict_parsing=bool(query))
    unknown = sorted(set(params) - {"config", "revision"})
    if not dataset_id or unknown:
        raise ConfigError(
            f"{source!r} is not a Hugging Face source like 'hf://owner/name?config=de-en&revision=main'"
            + (f" (unknown parameter(s) {unknown})" if unknown else "")
        )
    return HfRef(dataset_id, params.get("config", [None])[-1], params.get("revision", [None])[-1])


def load_hf_dataset(ref: HfRef, split: str) -> datasets.Dataset:
    """Load one split with :func:`datasets.load_dataset` (hub id or local directory alike).

    Raises :class:`InputNotFoundError` naming the dataset for a missing dataset or split.
    """
    import datasets  # heavy import: only when a Hugging Face source is used

    if ref.local is not None and not ref.local.exists():
        raise InputNotFoundError(f"Hugging Face dataset directory {str(ref.local)!r} does not exist")
    path = str(ref.local) if ref.local is not None else ref.id
    try:
        return datasets.load_dataset(path, name=ref.config, split=split, revision=ref.revision)
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise InputNotFoundError(f"Hugging Face dataset {ref.id!r} not found: {exc}") from None
    except ValueError as exc:  # e.g. an unknown split or config
        raise InputNotFoundError(f"Hugging Face dataset {ref.id!r}, split {split!r}: {exc}") from None


def hf_fingerprint(ref: HfRef, split: str) -> str:
    """Fingerprint of a Hugging Face source: for a hub id its current commit sha (one API
    call, no download); for a local directory the bytes of its files."""
    payload: dict[str, object] = {"kind": "hf", "config": ref.config, "split": split}
    if ref.local is not None:
        if not ref.local.is_dir():
            raise InputNotFoundError(f"Hugging Face dataset directory {str(ref.local)!r} does not exist")
        files = sorted(
            p.relative_to(ref.local)
            for p in ref.local.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(ref.local).parts)
        )
        payload["files"] = [[f.as_posix(), file_sha256(ref.local / f)] for f in files]
        return _digest(payload)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi().dataset_info(ref.id, revision=ref.revision)
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise InputNotFoundError(f"Hugging Face dataset {ref.id!r} not found: {exc}") from None
    payload.update(id=ref.id, sha=info.sha)
    return _digest(payload)
