"""The storage contract over an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Ceph, Garage).

boto3 signs and retries; this module only maps the contract onto S3's own conditional
requests: put-if-absent is ``PUT`` with ``If-None-Match: *`` and a conditional replace is
``PUT`` with ``If-Match: <etag>``, so two replicas never overwrite each other without a
lock service. The object's sha256 rides along as user metadata, so a lost race can be
told apart from an identical retry with one ``HEAD``. Every failure to reach the store
becomes ``StoreUnavailable``; boto3's exceptions never leave this module.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from dynopypi.store.base import (
    KeyExists,
    Missing,
    Stat,
    StoreUnavailable,
    VersionChanged,
    check_key,
    is_key,
)

log = logging.getLogger(__name__)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_LOST = {"412", "PreconditionFailed", "ConditionalRequestConflict", "409"}


def make_client(endpoint_url: str | None, *, timeout: float = 5.0) -> Any:
    """A boto3 client with short timeouts: a store that does not answer must turn into a
    503 within seconds, not hang a worker thread (credentials and region come from the
    usual AWS environment variables and files)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout,
        read_timeout=max(timeout, 10.0),  # a frozen store: 503 within 20 s, not a hang
        retries={"total_max_attempts": 2, "mode": "standard"},  # one retry
        signature_version="s3v4",  # AWS refuses SigV2 pre-signed URLs in newer regions
        s3={"addressing_style": "path"},
        max_pool_connections=32,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


class _Body:
    """A botocore streaming body as a file the WSGI server can read and close."""

    def __init__(self, body: Any, key: str) -> None:
        self._body = body
        self._key = key

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._body.read(None if size < 0 else size)
            return data
        except Exception as exc:  # a connection that broke mid-stream
            raise StoreUnavailable(f"reading {self._key} from the store failed: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class S3Storage:
    def __init__(
        self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client: Any = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.client = client if client is not None else make_client(endpoint_url)
        from botocore.exceptions import BotoCoreError, ClientError

        self._client_error = ClientError
        self._boto_error = BotoCoreError

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _code(self, exc: Exception) -> str:
        if isinstance(exc, self._client_error):
            return str(exc.response.get("Error", {}).get("Code", ""))
        return ""

    def _status(self, exc: Exception) -> int:
        if isinstance(exc, self._client_error):
            return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return 0

    def _unavailable(self, exc: Exception, what: str) -> StoreUnavailable:
        detail = self._code(exc) or type(exc).__name__
        return StoreUnavailable(f"the package store {self.describe()} failed to {what} ({detail})")

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except (self._client_error, self._boto_error) as exc:
            raise self._unavailable(exc, what) from exc

    def check(self) -> None:
        self._call("answer", "list_objects_v2", Prefix=self.prefix, MaxKeys=1)

    def list(self, prefix: str = "") -> Iterator[Stat]:
        full = self.prefix + prefix
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list objects", "list_objects_v2", Prefix=full, **extra)
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                if not is_key(key):
                    continue
                modified = int(item["LastModified"].timestamp()) * 1_000_000_000
                yield Stat(key, int(item["Size"]), str(item["ETag"]), modified)
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def _head(self, key: str) -> Stat | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except (self._client_error, self._boto_error) as exc:
            if self._code(exc) in _NOT_FOUND or self._status(exc) == 404:
                return None
            raise self._unavailable(exc, f"look up {key}") from exc
        return self._stat_of(key, head)

    def _stat_of(self, key: str, answer: dict[str, Any]) -> Stat:
        modified = answer.get("LastModified")
        modified_ns = int(modified.timestamp()) * 1_000_000_000 if modified else 0
        size = int(answer.get("ContentLength", 0))
        if "ContentRange" in answer:  # a ranged GET: the whole object's size is after '/'
            size = int(str(answer["ContentRange"]).rpartition("/")[2] or size)
        sha = (answer.get("Metadata") or {}).get("sha256")
        return Stat(key, size, str(answer.get("ETag", "")), modified_ns, sha)

    def stat(self, key: str) -> Stat | None:
        return self._head(key)

    def open(self, key: str, start: int = 0, length: int | None = None) -> BinaryIO:
        extra: dict[str, str] = {}
        if length == 0:
            return _Empty()  # type: ignore[return-value]
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            extra["Range"] = f"bytes={start}-{end}"
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except (self._client_error, self._boto_error) as exc:
            if self._code(exc) in _NOT_FOUND or self._status(exc) == 404:
                raise Missing(key) from None
            if self._code(exc) == "InvalidRange" or self._status(exc) == 416:
                return _Empty()  # type: ignore[return-value]
            raise self._unavailable(exc, f"read {key}") from exc
        return _Body(answer["Body"], key)  # type: ignore[return-value]

    def read(self, key: str, limit: int) -> tuple[bytes, Stat] | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except (self._client_error, self._boto_error) as exc:
            if self._code(exc) in _NOT_FOUND or self._status(exc) == 404:
                return None
            raise self._unavailable(exc, f"read {key}") from exc
        stat = self._stat_of(key, answer)
        with _Body(answer["Body"], key) as body:
            if stat.size > limit:
                raise StoreUnavailable(f"{key} in {self.describe()} is larger than {limit} bytes")
            data = body.read(limit + 1)
        if len(data) > limit:
            raise StoreUnavailable(f"{key} in {self.describe()} is larger than {limit} bytes")
        return data, stat

    def put_if_absent(self, key: str, staged: Path, *, sha256: str) -> Stat:
        full = self._key(key)
        try:
            with open(staged, "rb") as body:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=body,
                    IfNoneMatch="*",
                    Metadata={"sha256": sha256},
                )
        except (self._client_error, self._boto_error) as exc:
            if self._code(exc) in _LOST or self._status(exc) in (409, 412):
                raise KeyExists(key, self._head(key)) from None
            raise self._unavailable(exc, f"store {key}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot read the staged upload: {exc.strerror}") from exc
        found = self._head(key)
        if found is None:
            raise StoreUnavailable(f"{key} was stored but is not visible in {self.describe()}")
        return found

    def write(self, key: str, data: bytes, *, expect: str | None) -> Stat:
        condition = {"IfNoneMatch": "*"} if expect is None else {"IfMatch": expect}
        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, **condition
            )
        except (self._client_error, self._boto_error) as exc:
            lost = self._code(exc) in _LOST or self._status(exc) in (409, 412)
            if lost and expect is None:
                raise KeyExists(key, self._head(key)) from None
            if lost or (expect is not None and self._code(exc) in _NOT_FOUND):
                raise VersionChanged(key) from None
            raise self._unavailable(exc, f"write {key}") from exc
        return Stat(key, len(data), str(answer.get("ETag", "")), 0)

    def delete(self, key: str) -> None:
        self._call(f"remove {key}", "delete_object", Key=self._key(key))

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

    def presigned_url(self, key: str, *, expires: int) -> str | None:
        try:
            url: str = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=expires,
            )
        except (self._client_error, self._boto_error) as exc:
            raise self._unavailable(exc, f"sign a URL for {key}") from exc
        return url

    def abort_multipart(self) -> int:
        """Abort multipart uploads left under the prefix by a crash; how many."""
        answer = self._call("list multipart uploads", "list_multipart_uploads", Prefix=self.prefix)
        aborted = 0
        for upload in answer.get("Uploads", ()):
            with contextlib.suppress(self._client_error, self._boto_error):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
        return aborted


class _Empty:
    def read(self, size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass

    def __enter__(self) -> _Empty:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
