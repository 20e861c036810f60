"""Gemini's batch mode as a :class:`~jtd_ai.batch_protocol.BatchProtocol` (no I/O).

``POST models/{model}:batchGenerateContent`` creates a job from ``{"batch": {"display_name",
"input_config"}}``: the requests inline (``requests.requests[]``, each ``{"request",
"metadata": {"key"}}``; up to 20 MB in all) or a JSONL file of ``{"key", "request"}`` lines
uploaded to the Files API (``/upload/v1beta/files``, resumable: a ``start`` step answered
with ``x-goog-upload-url``, then ``upload, finalize``), named by ``input_config.file_name``.
The reply is an operation ``{"name": "batches/...", "metadata": {state, batchStats,
output}}``; ``GET batches/{id}`` polls it (``BATCH_STATE_PENDING``, ``RUNNING``,
``SUCCEEDED``, ``FAILED``, ``CANCELLED``, ``EXPIRED``); results are
``output.inlinedResponses.inlinedResponses[]`` or a ``responsesFile`` read from
``/download/v1beta/{file}:download?alt=media``; ``POST batches/{id}:cancel`` cancels;
``GET batches`` lists the jobs a page at a time (``pageSize``, ``pageToken``,
``nextPageToken``), each with its ``createTime``.
(ai.google.dev/gemini-api/docs/batch-api and ai.google.dev/api/batch-api.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from jtd_ai.batch_protocol import BatchLimits, BatchProtocol, ItemOutcome, JobState, JobStatus
from jtd_ai.errors import MalformedResponseError, ValidationError
from jtd_ai.wire import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from jtd_ai.request import ChatRequest

__all__ = ["GeminiBatchProtocol"]

_STATES = {
    "BATCH_STATE_PENDING": JobState.PENDING, "BATCH_STATE_RUNNING": JobState.RUNNING,
    "BATCH_STATE_SUCCEEDED": JobState.COMPLETED, "BATCH_STATE_FAILED": JobState.FAILED,
    "BATCH_STATE_CANCELLED": JobState.CANCELLED, "BATCH_STATE_EXPIRED": JobState.EXPIRED,
}
#: HTTP statuses of the gRPC codes an item's ``error`` (a google.rpc.Status) carries.
_HTTP_OF_GRPC = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400,
                 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
#: Models batch mode serves: Gemini text models, not live, speech or embedding ones.
_BATCHED = re.compile(r"^(models/)?gemini-(?!.*(live|tts|native-audio|embedding))")
#: Inline requests are limited to 20 MB in all; bigger inputs go as a file.
INLINE_LIMIT = 20_000_000
#: The page size asked of ``GET batches`` when looking for a job by its name.
_PAGE = 100


class GeminiBatchProtocol(BatchProtocol):
    """``batchGenerateContent`` jobs, inline or from an uploaded JSONL file."""

    limits: ClassVar[BatchLimits] = BatchLimits(max_bytes=2_000_000_000)

    def supports(self, model: str) -> bool:
        return bool(_BATCHED.match(model))

    def encode_item(self, key: str, request: ChatRequest) -> bytes:
        body = self.chat.chat_request(request, stream=False).json
        return json.dumps({"key": key, "request": body}, ensure_ascii=False,
                          separators=(",", ":")).encode()

    def upload_request(self, tag: str, data: bytes, *, mode: str = "auto") -> HttpRequest | None:
        if mode == "inline" or (mode == "auto" and len(data) <= INLINE_LIMIT):
            if len(data) > INLINE_LIMIT:
                raise ValidationError(
                    f"{self.provider}: {len(data):,} bytes of requests are over batch mode's "
                    f"inline limit ({INLINE_LIMIT:,}); send them as a file (input='file')",
                    field="input")
            return None
        return HttpRequest("POST", self._root() + "/upload/v1beta/files", json={
            "file": {"display_name": tag}}, headers={
            "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl"})

    def parse_upload(self, response: HttpResponse, data: bytes) -> str | HttpRequest:
        url = response.headers.get("x-goog-upload-url")
        if url and response.headers.get("x-goog-upload-status", "active") == "active":
            return HttpRequest("POST", url, content=data, headers={
                "X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0",
                "Content-Type": "application/jsonl"})
        name = (self.reply_object(response).get("file") or {}).get("name")
        if not name:
            raise MalformedResponseError(f"{self.provider} named no file after the upload",
                                         provider=self.provider, body=response.content)
        return str(name)

    def create_request(self, tag: str, model: str, lines: Sequence[bytes],
                       file_id: str | None) -> HttpRequest:
        config: dict[str, Any]
        if file_id is not None:
            config = {"file_name": file_id}
        else:
            requests = []
            for line in lines:
                item = json.loads(line)
                requests.append({"request": item["request"], "metadata": {"key": item["key"]}})
            config = {"requests": {"requests": requests}}
        resource = model if model.startswith("models/") else f"models/{model}"
        return HttpRequest("POST", "/" + quote(resource, safe="/-._~") + ":batchGenerateContent",
                           json={"batch": {"display_name": tag, "input_config": config}})

    def parse_job(self, response: HttpResponse) -> JobStatus:
        return self._status(self.reply_object(response), response)

    def poll_request(self, job_id: str) -> HttpRequest:
        return HttpRequest("GET", "/" + quote(job_id, safe="/-._~"))

    def cancel_request(self, job_id: str) -> HttpRequest:
        return HttpRequest("POST", "/" + quote(job_id, safe="/-._~") + ":cancel")

    def find_request(self, tag: str) -> HttpRequest:
        return HttpRequest("GET", "/batches", params={"pageSize": str(_PAGE)})

    def find_job(self, response: HttpResponse, tag: str,
                 since: float) -> JobStatus | HttpRequest | None:
        page = self.reply_object(response)
        operations = [op for op in page.get("operations") or [] if isinstance(op, dict)]
        for operation in operations:
            batch = operation.get("metadata") or {}
            if batch.get("displayName", batch.get("display_name")) == tag:
                return self._status(operation, response)
        token = page.get("nextPageToken")
        if not token or not any(_created(op) >= since for op in operations):
            return None  # the listing ended, or reached jobs older than the one looked for
        return HttpRequest("GET", "/batches", params={"pageSize": str(_PAGE),
                                                       "pageToken": str(token)})

    def results_requests(self, status: JobStatus) -> list[HttpRequest]:
        if not status.output_ref:
            return []
        return [HttpRequest("GET", f"{self._root()}/download/v1beta/"
                                   f"{quote(status.output_ref, safe='/-._~')}:download",
                            params={"alt": "media"})]

    def parse_results(self, status: JobStatus,
                      responses: Sequence[HttpResponse]) -> Iterable[ItemOutcome]:
        if responses:
            for response in responses:
                for number, line in enumerate(response.content.splitlines(), 1):
                    if line.strip():
                        yield self._outcome(self.result_line(line, number, "key"), line)
            return
        output = _output(status.raw)
        inlined = (output.get("inlinedResponses") or {}).get("inlinedResponses") or []
        for item in inlined:
            key = ((item.get("metadata") or {}) if isinstance(item, dict) else {}).get("key")
            if key is None:
                raise MalformedResponseError(f"{self.provider} sent an inlined response "
                                             f"without its key", provider=self.provider)
            yield self._outcome({"key": key, **item}, b"")

    # -- helpers ------------------------------------------------------------------------------

    def _root(self) -> str:
        """The API's root URL: the base URL without its version (``/v1beta``)."""
        base = (self.chat.config.base_url or "").rstrip("/")
        return re.sub(r"/v1(beta\d*|alpha\d*)?$", "", base)

    def _outcome(self, item: Mapping[str, Any], line: bytes) -> ItemOutcome:
        key = str(item.get("key"))
        error = item.get("error")
        if isinstance(error, Mapping):
            code = error.get("code")
            status = _HTTP_OF_GRPC.get(code, 500) if isinstance(code, int) and code < 100 \
                else (code if isinstance(code, int) else 500)
            return self.item_error(key, status, {**error, "code": status})
        return ItemOutcome(key, 200, json.dumps(item.get("response")).encode())

    def _status(self, operation: dict[str, Any], response: HttpResponse) -> JobStatus:
        batch = operation.get("metadata") if "metadata" in operation else operation
        batch = batch if isinstance(batch, dict) else {}
        state = _STATES.get(str(batch.get("state")))
        name = operation.get("name") or batch.get("name")
        if state is None or not name:
            raise MalformedResponseError(
                f"{self.provider} sent a batch with an unknown state {batch.get('state')!r}",
                provider=self.provider, body=response.content)
        stats = batch.get("batchStats") or {}
        output = _output(operation)
        error = operation.get("error") or {}
        return JobStatus(
            job_id=str(name), state=state, total=_count(stats.get("requestCount")),
            completed=_count(stats.get("successfulRequestCount")),
            failed=_count(stats.get("failedRequestCount")),
            output_ref=output.get("responsesFile"),
            message=error.get("message") if isinstance(error, dict) else None,
            raw=operation)


def _output(operation: Any) -> Mapping[str, Any]:
    """A finished operation's output: its ``response``, or the batch's ``output``."""
    if not isinstance(operation, dict):
        return {}
    output = operation.get("response")
    if not isinstance(output, dict):
        output = (operation.get("metadata") or {}).get("output")
    return output if isinstance(output, dict) else {}


def _created(operation: Mapping[str, Any]) -> float:
    """A listed batch's ``createTime`` (RFC 3339) as Unix seconds; unreadable counts as new."""
    import datetime as dt

    batch = operation.get("metadata")
    value = batch.get("createTime") if isinstance(batch, Mapping) else None
    try:
        return dt.datetime.fromisoformat(str(value)).timestamp() if value else float("inf")
    except ValueError:
        return float("inf")


def _count(value: Any) -> int | None:
    """An int64 count (sent as a string in JSON)."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
