"""The fake provider server's batch endpoints: OpenAI's Files and Batches, Gemini's batch
mode and Files upload/download, from the providers' documented formats.

Time is compressed: a job moves one state per poll (OpenAI ``validating`` ->
``in_progress`` -> ``finalizing`` ...) and ends on its :attr:`FakeBatches.polls` -th poll,
or once :attr:`FakeBatches.seconds` have passed if that is set. How jobs end is chosen before
they are created: :attr:`FakeBatches.outcome` is ``completed`` (the default), ``failed`` (the
whole job refused), ``expired`` (the first half of the items answered, the rest not run).
A job cancelled while it runs (after its first poll) had answered the first half of its
items: OpenAI gives their results in the cancelled job's output file, as it documents, and
the rest as ``batch_cancelled`` lines of the error file; Gemini gives no results. Listings
come newest first a page at a time, as each provider documents (OpenAI ``limit`` and
``after``; Gemini ``pageSize``, ``pageToken`` and ``nextPageToken``).
An item whose prompt contains :data:`FAIL_MARK` gets an error reply (OpenAI: a line of the
error file with a 400 response; Gemini: an ``error`` status). Replies follow the rule of
:mod:`jtd_ai.testing.dialects`. ``server.batches.created`` lists every job id created, so a
test can check that a resumed run created none twice.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from typing import Any

from attrs import define, field

from jtd_ai.testing.dialects import DIALECTS, plan

__all__ = ["FAIL_MARK", "BatchReply", "FakeBatches"]

#: Put this in a prompt to make that batch item fail.
FAIL_MARK = "[fail]"

_OPENAI_STEPS = ("validating", "in_progress", "finalizing")
_GEMINI_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch"
_GEMINI_OUTPUT = ("type.googleapis.com/google.ai.generativelanguage.v1beta."
                  "GenerateContentBatchOutput")


@define
class BatchReply:
    """What the server sends back for a batch endpoint."""

    status: int
    body: Any = None
    #: Bytes sent as they are (a file's content) instead of ``body`` as JSON.
    raw: bytes | None = None
    headers: dict[str, str] = field(factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        return self.raw if self.raw is not None else json.dumps(self.body, indent=2).encode()


@define
class _File:
    id: str
    name: str
    purpose: str
    data: bytes
    created: int = field(factory=lambda: int(time.time()))


@define
class _Job:
    id: str
    provider: str
    model: str
    tag: str
    items: list[dict[str, Any]]  # {"key", "request"}
    outcome: str
    input_file: str | None = None
    inline: bool = False
    polls: int = 0
    started: float = field(factory=time.monotonic)
    state: str = "pending"  # pending, running, finalizing, completed, failed, expired, ...
    cancel_asked: bool = False
    #: Items run before a cancel (the first ones).
    answered: int = 0
    output_file: str | None = None
    error_file: str | None = None
    inline_results: list[dict[str, Any]] | None = None
    counts: tuple[int, int] = (0, 0)  # completed, failed
    metadata: dict[str, Any] = field(factory=dict)
    created: int = field(factory=lambda: int(time.time()))


class FakeBatches:
    """The batch jobs and files of one fake server (thread-safe)."""

    def __init__(self, base_url: Any) -> None:
        self._base_url = base_url  # the server's url, read when a job needs it
        self._lock = threading.Lock()
        self.files: dict[str, _File] = {}
        self.jobs: dict[str, _Job] = {}
        #: Every job id created, in order.
        self.created: list[str] = []
        #: Polls after which a job ends (``seconds``, if set, may end it sooner).
        self.polls = 2
        self.seconds: float | None = None
        #: How jobs created from now on end: ``completed``, ``failed`` or ``expired``.
        self.outcome = "completed"
        self._seq = 0
        self._uploads: dict[str, dict[str, Any]] = {}
        self._page_tokens: dict[str, str] = {}  # Gemini's page token -> the last job id

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    # -- OpenAI ------------------------------------------------------------------------------

    def openai(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> BatchReply | None:
        """An answer for an OpenAI Files/Batches path, or None for other paths."""
        rest = path.removeprefix("/v1")
        with self._lock:
            if method == "POST" and rest == "/files":
                return self._openai_upload(headers, body)
            if method == "GET" and rest.startswith("/files/") and rest.endswith("/content"):
                found = self.files.get(rest.removeprefix("/files/").removesuffix("/content"))
                if found is None:
                    return _openai_error(404, "No such File object")
                return BatchReply(200, raw=found.data, content_type="application/octet-stream")
            if method == "POST" and rest == "/batches":
                return self._openai_create(json.loads(body))
            if method == "GET" and rest == "/batches":
                return self._openai_list(query)
            if rest.startswith("/batches/"):
                ident, _, action = rest.removeprefix("/batches/").partition("/")
                job = self.jobs.get(ident)
                if job is None or job.provider != "openai":
                    return _openai_error(404, f"No batch found with id '{ident}'.")
                if method == "POST" and action == "cancel":
                    self._cancel(job)
                    return BatchReply(200, self._openai_view(job))
                if method == "GET" and not action:
                    self._advance(job)
                    return BatchReply(200, self._openai_view(job))
        return None

    def _openai_list(self, query: dict[str, str]) -> BatchReply:
        """``GET /batches``: newest first, ``limit`` (1 to 100, default 20) a page, the next
        page ``after`` the last id of this one."""
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return _openai_error(400, "limit must be an integer from 1 to 100")
        jobs = self._newest_first("openai", query.get("after"))
        page = jobs[:limit]
        return BatchReply(200, {
            "object": "list", "data": [self._openai_view(j) for j in page],
            "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
            "has_more": len(jobs) > limit})

    def _newest_first(self, provider: str, after: str | None) -> list[_Job]:
        """The provider's jobs, newest first; with ``after``, those listed after that one."""
        jobs = [j for j in reversed(self.jobs.values()) if j.provider == provider]
        if after:
            ids = [j.id for j in jobs]
            jobs = jobs[ids.index(after) + 1:] if after in ids else []
        return jobs

    def _openai_upload(self, headers: dict[str, str], body: bytes) -> BatchReply:
        fields = _multipart(headers.get("content-type", ""), body)
        if "file" not in fields or fields.get("purpose", (b"", ""))[0] != b"batch":
            return _openai_error(400, "a batch upload needs purpose=batch and a file")
        data, filename = fields["file"]
        file = _File(f"file-fake{self._next()}", filename or "input.jsonl", "batch", data)
        self.files[file.id] = file
        return BatchReply(200, {"id": file.id, "object": "file", "bytes": len(data),
                                "created_at": file.created, "filename": file.name,
                                "purpose": "batch"})

    def _openai_create(self, request: dict[str, Any]) -> BatchReply:
        file = self.files.get(str(request.get("input_file_id")))
        if file is None:
            return _openai_error(400, "input_file_id names no uploaded file")
        if request.get("endpoint") != "/v1/chat/completions" or \
                request.get("completion_window") != "24h":
            return _openai_error(400, "endpoint must be /v1/chat/completions, window 24h")
        items = []
        for line in file.data.splitlines():
            if line.strip():
                item = json.loads(line)
                items.append({"key": item["custom_id"], "request": item["body"]})
        model = items[0]["request"].get("model", "") if items else ""
        job = _Job(f"batch_fake{self._next()}", "openai", model,
                   str((request.get("metadata") or {}).get("jtd_ai_tag", "")), items,
                   self.outcome, input_file=file.id, metadata=request.get("metadata") or {})
        self.jobs[job.id] = job
        self.created.append(job.id)
        return BatchReply(200, self._openai_view(job))

    def _openai_view(self, job: _Job) -> dict[str, Any]:
        status = {"pending": "validating", "running": "in_progress"}.get(job.state, job.state)
        completed, failed = job.counts
        view: dict[str, Any] = {
            "id": job.id, "object": "batch", "endpoint": "/v1/chat/completions",
            "errors": None, "input_file_id": job.input_file, "completion_window": "24h",
            "status": status, "output_file_id": job.output_file,
            "error_file_id": job.error_file, "created_at": job.created,
            "request_counts": {"total": len(job.items), "completed": completed,
                               "failed": failed},
            "metadata": job.metadata,
        }
        if job.state == "failed":
            view["errors"] = {"object": "list", "data": [{
                "code": "invalid_request", "line": 1, "param": None,
                "message": "fake server: this batch was refused"}]}
        return view

    # -- Gemini ------------------------------------------------------------------------------

    def gemini(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> BatchReply | None:
        """An answer for a Gemini batch or file path, or None for other paths."""
        with self._lock:
            if method == "POST" and path == "/upload/v1beta/files":
                return self._gemini_upload(query, headers, body)
            if method == "GET" and path.startswith(("/download/v1beta/files/",
                                                    "/v1beta/files/")) \
                    and path.endswith(":download"):  # the documented URL, and the SDK's
                name = "files/" + path.rsplit("/files/", 1)[-1].removesuffix(":download")
                found = self.files.get(name)
                if found is None:
                    return _gemini_error(404, f"File {name} not found", "NOT_FOUND")
                return BatchReply(200, raw=found.data, content_type="application/jsonl")
            rest = path.split("/", 2)[-1] if path.startswith(("/v1beta/", "/v1/")) else ""
            if method == "POST" and rest.startswith("models/") and \
                    rest.endswith(":batchGenerateContent"):
                model = rest.removeprefix("models/").removesuffix(":batchGenerateContent")
                return self._gemini_create(model, json.loads(body))
            if method == "GET" and rest == "batches":
                return self._gemini_list(query)
            if rest.startswith("batches/"):
                ident, _, action = rest.partition(":")
                job = self.jobs.get(ident)
                if job is None or job.provider != "gemini":
                    return _gemini_error(404, f"Batch {ident} not found", "NOT_FOUND")
                if method == "POST" and action == "cancel":
                    self._cancel(job)
                    return BatchReply(200, {})
                if method == "GET" and not action:
                    self._advance(job)
                    return BatchReply(200, self._gemini_view(job))
        return None

    def _gemini_list(self, query: dict[str, str]) -> BatchReply:
        """``GET batches``: newest first, ``pageSize`` a page (default 50), the next page
        named by the opaque ``nextPageToken`` sent back as ``pageToken``."""
        try:
            size = int(query.get("pageSize", "50"))
        except ValueError:
            size = 0
        if size < 1:
            return _gemini_error(400, "pageSize must be a positive integer",
                                 "INVALID_ARGUMENT")
        token = query.get("pageToken")
        after = self._page_tokens.get(token) if token else None
        if token and after is None:
            return _gemini_error(400, "Invalid page token", "INVALID_ARGUMENT")
        jobs = self._newest_first("gemini", after)
        page = jobs[:size]
        body: dict[str, Any] = {"operations": [self._gemini_view(j) for j in page]}
        if len(jobs) > size:
            next_token = f"page{self._next()}"
            self._page_tokens[next_token] = page[-1].id
            body["nextPageToken"] = next_token
        return BatchReply(200, body)

    def _gemini_upload(self, query: dict[str, str], headers: dict[str, str],
                       body: bytes) -> BatchReply:
        command = headers.get("x-goog-upload-command", "")
        if command == "start":
            upload = str(self._next())
            meta = json.loads(body) if body else {}
            self._uploads[upload] = {
                "name": (meta.get("file") or {}).get("display_name", ""),
                "size": int(headers.get("x-goog-upload-header-content-length", "-1"))}
            url = f"{self._base_url()}/upload/v1beta/files?upload_id={upload}"
            return BatchReply(200, {}, headers={"x-goog-upload-url": url,
                                                "x-goog-upload-status": "active"})
        if "finalize" in command:
            started = self._uploads.pop(query.get("upload_id", ""), None)
            if started is None or started["size"] not in (-1, len(body)):
                return _gemini_error(400, "unknown upload, or wrong size", "INVALID_ARGUMENT")
            file = _File(f"files/fake{self._next()}", started["name"], "batch", body)
            self.files[file.id] = file
            return BatchReply(200, {"file": {
                "name": file.id, "displayName": file.name, "mimeType": "application/jsonl",
                "sizeBytes": str(len(body)), "state": "ACTIVE"}},
                headers={"x-goog-upload-status": "final"})
        return _gemini_error(400, "X-Goog-Upload-Command must be start or upload, finalize",
                             "INVALID_ARGUMENT")

    def _gemini_create(self, model: str, request: dict[str, Any]) -> BatchReply:
        batch = request.get("batch") or {}
        config = batch.get("input_config") or batch.get("inputConfig") or {}
        items: list[dict[str, Any]] = []
        inline = "requests" in config
        if inline:
            for entry in (config["requests"] or {}).get("requests") or []:
                items.append({"key": (entry.get("metadata") or {}).get("key"),
                              "request": entry["request"]})
        else:
            file = self.files.get(str(config.get("file_name") or config.get("fileName")))
            if file is None:
                return _gemini_error(400, "input_config names no uploaded file",
                                     "INVALID_ARGUMENT")
            items = [json.loads(line) for line in file.data.splitlines() if line.strip()]
        name = batch.get("display_name") or batch.get("displayName") or ""
        job = _Job(f"batches/fake{self._next()}", "gemini", model, name, items, self.outcome,
                   inline=inline)
        self.jobs[job.id] = job
        self.created.append(job.id)
        return BatchReply(200, self._gemini_view(job))

    def _gemini_view(self, job: _Job) -> dict[str, Any]:
        state = {"pending": "PENDING", "running": "RUNNING", "finalizing": "RUNNING",
                 "completed": "SUCCEEDED", "failed": "FAILED", "expired": "EXPIRED",
                 "cancelling": "RUNNING", "cancelled": "CANCELLED"}[job.state]
        completed, failed = job.counts
        meta: dict[str, Any] = {
            "@type": _GEMINI_TYPE, "model": f"models/{job.model}", "displayName": job.tag,
            "name": job.id, "state": f"BATCH_STATE_{state}",
            "createTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job.created)),
            "batchStats": {"requestCount": str(len(job.items)),
                           "successfulRequestCount": str(completed),
                           "failedRequestCount": str(failed),
                           "pendingRequestCount": str(len(job.items) - completed - failed)}}
        view: dict[str, Any] = {"name": job.id, "metadata": meta}
        if job.state in ("completed", "failed", "expired", "cancelled"):
            view["done"] = True
            if job.state == "failed":
                view["error"] = {"code": 3, "message": "fake server: this batch was refused"}
            elif job.state == "completed":
                output: dict[str, Any] = (
                    {"inlinedResponses": {"inlinedResponses": job.inline_results}}
                    if job.inline else {"responsesFile": job.output_file})
                meta["output"] = output
                view["response"] = {"@type": _GEMINI_OUTPUT, **output}
        return view

    # -- jobs --------------------------------------------------------------------------------

    def _cancel(self, job: _Job) -> None:
        if job.state in ("pending", "running", "finalizing"):
            # What it ran before the cancel: the first half of the items once it was running
            job.answered = len(job.items) // 2 if job.state != "pending" else 0
            job.state = "cancelling"
            job.cancel_asked = True

    def _advance(self, job: _Job) -> None:
        """One poll of ``job``: the next state, and its results when it ends."""
        if job.state == "cancelling":
            job.state = "cancelled"
            if job.provider == "openai":  # the items it finished, in the output file
                self._results(job, job.answered, not_run="batch_cancelled")
            return
        if job.state not in ("pending", "running", "finalizing"):
            return
        job.polls += 1
        timed_out = self.seconds is not None and time.monotonic() - job.started >= self.seconds
        if job.polls < self.polls and not timed_out:
            job.state = ("pending", "running", "finalizing")[min(job.polls, 2)]
            return
        if job.outcome == "failed":
            job.state = "failed"
            return
        answered = len(job.items) if job.outcome != "expired" else len(job.items) // 2
        job.state = "expired" if job.outcome == "expired" else "completed"
        self._results(job, answered)

    def _results(self, job: _Job, answered: int, *, not_run: str = "batch_expired") -> None:
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        in_order: list[dict[str, Any]] = []  # Gemini: every result, in input order
        failed = 0
        for i, item in enumerate(job.items):
            if i >= answered:
                if job.provider == "openai":
                    why = ("the batch was cancelled" if not_run == "batch_cancelled" else
                           "the completion window expired")
                    errors.append({"id": f"batch_req_{self._next()}",
                                   "custom_id": item["key"], "response": None,
                                   "error": {"code": not_run, "message":
                                             f"This request could not be executed before "
                                             f"{why}."}})
                continue
            result = self._answer(job, item)
            in_order.append(result)
            reply = result.get("response") or {}
            if result.get("error") is not None or reply.get("status_code", 200) >= 400:
                failed += 1
                errors.append(result)
            else:
                outputs.append(result)
        job.counts = (len(outputs), failed)
        if job.provider == "openai":
            job.output_file = self._store_lines(f"{job.id}_output.jsonl", outputs)
            job.error_file = self._store_lines(f"{job.id}_error.jsonl", errors)
            return
        if job.inline:  # each with its request's metadata, when it had some
            job.inline_results = [
                {k: v for k, v in r.items() if k != "key"}
                | ({"metadata": {"key": r["key"]}} if r.get("key") is not None else {})
                for r in in_order]
        else:
            job.output_file = self._store_lines(f"{job.id}-output", in_order,
                                                prefix="files/")

    def _answer(self, job: _Job, item: dict[str, Any]) -> dict[str, Any]:
        """The result of one item, in the job's provider's batch format."""
        request = item["request"]
        seq = self._next()
        fail = FAIL_MARK in json.dumps(request)
        if job.provider == "openai":
            dialect = DIALECTS["openai"]
            if fail:
                return {"id": f"batch_req_{seq}", "custom_id": item["key"], "error": None,
                        "response": {"status_code": 400, "request_id": f"req_fake_{seq}",
                                     "body": dialect.error(400, "fake server: item refused")}}
            turn = dialect.turn(request, "/v1/chat/completions", {})
            return {"id": f"batch_req_{seq}", "custom_id": item["key"], "error": None,
                    "response": {"status_code": 200, "request_id": f"req_fake_{seq}",
                                 "body": dialect.reply(turn, plan(turn), seq)}}
        if fail:
            return {"key": item["key"], "error": {
                "code": 3, "message": "fake server: item refused", "status": "INVALID_ARGUMENT"}}
        dialect = DIALECTS["gemini"]
        turn = dialect.turn(request, f"/v1beta/models/{job.model}:generateContent", {})
        return {"key": item["key"], "response": dialect.reply(turn, plan(turn), seq)}

    def _store_lines(self, name: str, lines: list[dict[str, Any]], *,
                     prefix: str = "file-") -> str | None:
        if not lines:
            return None
        file = _File(f"{prefix}fake{self._next()}", name, "batch_output",
                     b"".join(json.dumps(line).encode() + b"\n" for line in lines))
        self.files[file.id] = file
        return file.id


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """The fields of a multipart body: name -> (content, filename)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = (payload if isinstance(payload, bytes) else b"", part.get_filename())
    return fields


def _openai_error(status: int, message: str) -> BatchReply:
    return BatchReply(status, {"error": {"message": message, "type": "invalid_request_error",
                                         "param": None, "code": None}})


def _gemini_error(status: int, message: str, name: str) -> BatchReply:
    return BatchReply(status, {"error": {"code": status, "message": message, "status": name}})
