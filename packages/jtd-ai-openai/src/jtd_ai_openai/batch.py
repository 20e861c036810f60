"""OpenAI's Batch API as a :class:`~jtd_ai.batch_protocol.BatchProtocol` (no I/O).

The input is a JSONL file, one ``{"custom_id", "method": "POST", "url":
"/v1/chat/completions", "body"}`` line per item, uploaded to ``POST /files`` (multipart,
``purpose=batch``); ``POST /batches`` creates the job (``completion_window: 24h``, our tag
in ``metadata``); ``GET /batches/{id}`` polls it (``validating``, ``in_progress``,
``finalizing``, ``completed``, ``failed``, ``expired``, ``cancelling``, ``cancelled``);
``GET /files/{id}/content`` downloads the output and error files, whose lines carry each
item's ``response: {status_code, body}`` or ``error`` (a cancelled batch's output file holds
the items it finished); ``POST /batches/{id}/cancel``. ``GET /batches`` lists the jobs
newest first, a page at a time (``limit``, ``after`` the last id, ``has_more``).
Limits: 50,000 requests and 200 MB per file (platform.openai.com/docs/guides/batch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from jtd_ai.batch_protocol import (
    BatchLimits,
    BatchProtocol,
    ItemOutcome,
    JobState,
    JobStatus,
    multipart,
)
from jtd_ai.errors import MalformedResponseError
from jtd_ai.wire import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from jtd_ai.request import ChatRequest

__all__ = ["OpenAIBatchProtocol"]

_STATES = {
    "validating": JobState.PENDING, "in_progress": JobState.RUNNING,
    "finalizing": JobState.FINALIZING, "completed": JobState.COMPLETED,
    "failed": JobState.FAILED, "expired": JobState.EXPIRED,
    "cancelling": JobState.CANCELLING, "cancelled": JobState.CANCELLED,
}
#: Models the Batch API's chat endpoint does not serve (live audio and realtime sessions).
_NOT_BATCHED = re.compile(r"realtime|audio|tts|transcribe|search-preview")
#: Error codes of items the job never ran: the core reports them as the job's outcome.
_NOT_RUN = frozenset({"batch_expired", "batch_cancelled"})
_TAG_KEY = "jtd_ai_tag"
#: The largest page ``GET /batches`` gives (its ``limit``: 1 to 100, default 20).
_PAGE = 100


def _created(job: dict[str, Any]) -> float:
    """A listed job's ``created_at`` (Unix seconds); an unreadable one counts as new."""
    value = job.get("created_at")
    return float(value) if isinstance(value, int | float) else float("inf")


class OpenAIBatchProtocol(BatchProtocol):
    """Files + Batches, for ``/v1/chat/completions`` items."""

    limits: ClassVar[BatchLimits] = BatchLimits(max_requests=50_000, max_bytes=200_000_000)
    endpoint: ClassVar[str] = "/v1/chat/completions"

    def supports(self, model: str) -> bool:
        return not _NOT_BATCHED.search(model)

    def encode_item(self, key: str, request: ChatRequest) -> bytes:
        body = self.chat.chat_request(request, stream=False).json
        line = {"custom_id": key, "method": "POST", "url": self.endpoint, "body": body}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()

    def upload_request(self, tag: str, data: bytes, *, mode: str = "auto") -> HttpRequest:
        content_type, body = multipart([
            ({"Content-Disposition": 'form-data; name="purpose"'}, b"batch"),
            ({"Content-Disposition": f'form-data; name="file"; filename="{tag}.jsonl"',
              "Content-Type": "application/jsonl"}, data),
        ])
        return HttpRequest("POST", "/files", content=body,
                           headers={"Content-Type": content_type})

    def parse_upload(self, response: HttpResponse, data: bytes) -> str:
        return str(self.reply_object(response)["id"])

    def create_request(self, tag: str, model: str, lines: Sequence[bytes],
                       file_id: str | None) -> HttpRequest:
        return HttpRequest("POST", "/batches", json={
            "input_file_id": file_id, "endpoint": self.endpoint, "completion_window": "24h",
            "metadata": {_TAG_KEY: tag}})

    def parse_job(self, response: HttpResponse) -> JobStatus:
        return self._status(self.reply_object(response), response)

    def poll_request(self, job_id: str) -> HttpRequest:
        return HttpRequest("GET", f"/batches/{job_id}")

    def cancel_request(self, job_id: str) -> HttpRequest:
        return HttpRequest("POST", f"/batches/{job_id}/cancel")

    def find_request(self, tag: str) -> HttpRequest:
        return HttpRequest("GET", "/batches", params={"limit": str(_PAGE)})

    def find_job(self, response: HttpResponse, tag: str,
                 since: float) -> JobStatus | HttpRequest | None:
        page = self.reply_object(response)
        jobs = [job for job in page.get("data") or [] if isinstance(job, dict)]
        for job in jobs:
            if (job.get("metadata") or {}).get(_TAG_KEY) == tag:
                return self._status(job, response)
        last = page.get("last_id") or (jobs[-1].get("id") if jobs else None)
        if not page.get("has_more") or not last or not any(
                _created(job) >= since for job in jobs):
            return None  # the listing ended, or reached jobs older than the one looked for
        return HttpRequest("GET", "/batches", params={"limit": str(_PAGE),
                                                       "after": str(last)})

    def results_requests(self, status: JobStatus) -> list[HttpRequest]:
        return [HttpRequest("GET", f"/files/{ref}/content")
                for ref in (status.output_ref, status.error_ref) if ref]

    def parse_results(self, status: JobStatus,
                      responses: Sequence[HttpResponse]) -> Iterable[ItemOutcome]:
        for response in responses:
            for number, line in enumerate(response.content.splitlines(), 1):
                if not line.strip():
                    continue
                item = self.result_line(line, number, "custom_id")
                key = str(item.get("custom_id"))
                reply = item.get("response")
                error = item.get("error")
                if isinstance(reply, dict) and reply.get("status_code") is not None:
                    yield ItemOutcome(key, int(reply["status_code"]),
                                      json.dumps(reply.get("body")).encode())
                elif isinstance(error, dict) and error.get("code") not in _NOT_RUN:
                    yield self.item_error(key, 500, error)

    # -- helpers ------------------------------------------------------------------------------

    def _status(self, job: dict[str, Any], response: HttpResponse) -> JobStatus:
        state = _STATES.get(str(job.get("status")))
        if state is None or "id" not in job:
            raise MalformedResponseError(
                f"{self.provider} sent a batch with an unknown status {job.get('status')!r}",
                provider=self.provider, body=response.content)
        counts = job.get("request_counts") or {}
        errors = (job.get("errors") or {}).get("data") or []
        message = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
        return JobStatus(
            job_id=str(job["id"]), state=state, total=counts.get("total"),
            completed=counts.get("completed"), failed=counts.get("failed"),
            output_ref=job.get("output_file_id"), error_ref=job.get("error_file_id"),
            message=message or None, raw=job)
