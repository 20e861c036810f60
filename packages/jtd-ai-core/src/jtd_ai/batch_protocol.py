"""The driver author's contract for a provider's own batch API (OpenAI Batch, Gemini batch
mode, Anthropic Message Batches...): sans-I/O, like :mod:`jtd_ai.protocol`.

A :class:`BatchProtocol` builds the :class:`~jtd_ai.wire.HttpRequest` of each step and reads
each step's reply; the core (:mod:`jtd_ai.jobs`) sends them with its retries, persists every
step in the store, polls, splits large inputs by :attr:`BatchProtocol.limits` and maps results
back to input order::

    encode_item(key, request)  -> bytes          one line of the job's input (JSONL)
    upload_request(tag, data)  -> HttpRequest    None: the provider takes requests inline
    parse_upload(response, data) -> str | HttpRequest the file id, or the next upload step
    create_request(tag, model, lines, file_id) -> HttpRequest
    parse_job(response)        -> JobStatus      create and poll replies alike
    poll_request(job_id) / cancel_request(job_id)
    find_request(tag)          -> HttpRequest    the first page of the jobs, newest first
    find_job(response, tag, since) -> JobStatus | HttpRequest | None  found, next page, none
    results_requests(status)   -> [HttpRequest]  output and error files (none when inline)
    parse_results(status, responses) -> ItemOutcome...

A chat protocol offers its batch API from :meth:`ChatProtocol.batch_protocol`. Each item's
outcome is an HTTP status and body in the provider's chat format, so the chat protocol's own
``parse_chat``/``parse_error`` turn it into a Response or a typed error, exactly as a live
call would.
"""

from __future__ import annotations

import abc
import enum
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from attrs import field, frozen

from jtd_ai.errors import MalformedResponseError, ProviderError

if TYPE_CHECKING:
    from jtd_ai.protocol import ChatProtocol
    from jtd_ai.request import ChatRequest
    from jtd_ai.wire import HttpRequest, HttpResponse

__all__ = ["BatchJobError", "BatchLimits", "BatchProtocol", "ItemOutcome", "JobState",
           "JobStatus", "multipart"]


class JobState(enum.Enum):
    """A provider job's state, as every provider's states map onto it."""

    PENDING = "pending"          # OpenAI validating, Gemini BATCH_STATE_PENDING
    RUNNING = "running"          # in_progress, BATCH_STATE_RUNNING
    FINALIZING = "finalizing"    # OpenAI finalizing
    COMPLETED = "completed"      # completed, BATCH_STATE_SUCCEEDED
    FAILED = "failed"            # the whole job was refused or failed
    EXPIRED = "expired"          # not finished within the provider's window
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the job will not change any more (its results can be collected)."""
        return self in _TERMINAL


_TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.EXPIRED,
                       JobState.CANCELLED})


@frozen
class BatchLimits:
    """What one provider job may hold; None where the provider sets no limit. An input over
    ``max_requests`` or ``max_bytes`` is split into several jobs; one item over
    ``max_item_bytes`` (or over ``max_bytes`` alone) is refused before anything is sent."""

    max_requests: int | None = None
    max_bytes: int | None = None
    max_item_bytes: int | None = None


@frozen
class JobStatus:
    """A provider job as one reply described it."""

    job_id: str
    state: JobState
    total: int | None = None
    completed: int | None = None
    failed: int | None = None
    #: Where the results are: the output and error file ids (None: none, or inline).
    output_ref: str | None = None
    error_ref: str | None = None
    #: The provider's reason for a failed job, when it gave one.
    message: str | None = None
    #: The decoded reply, for :meth:`BatchProtocol.parse_results` (inline results).
    raw: Any = field(default=None, repr=False, eq=False)


@frozen
class ItemOutcome:
    """One item's answer: ``key`` as given to :meth:`BatchProtocol.encode_item`, and the HTTP
    status and body the provider's chat endpoint would have answered with."""

    key: str
    status: int
    body: bytes


class BatchJobError(ProviderError):
    """A batch item the provider's job did not answer: the job failed or expired before
    reaching it. ``job_id`` names the provider's job, ``job_state`` its final state."""

    def __init__(self, message: str, *, job_id: str | None = None,
                 job_state: str | None = None, **kwargs: Any) -> None:
        self.job_id = job_id
        self.job_state = job_state
        super().__init__(message, **kwargs)


class BatchProtocol(abc.ABC):
    """Translation for one provider's batch API; one instance per chat protocol."""

    #: Per-job limits (requests, bytes of the input, bytes of one item).
    limits: ClassVar[BatchLimits] = BatchLimits()

    def __init__(self, chat: ChatProtocol) -> None:
        self.chat = chat

    @property
    def provider(self) -> str:
        return self.chat.provider

    # -- required ---------------------------------------------------------------------------

    @abc.abstractmethod
    def supports(self, model: str) -> bool:
        """Whether ``model`` can run in this provider's batch API."""

    @abc.abstractmethod
    def encode_item(self, key: str, request: ChatRequest) -> bytes:
        """One item of the job's input (a JSONL line without its newline). Raise
        ValidationError for a request the batch API cannot take."""

    @abc.abstractmethod
    def create_request(self, tag: str, model: str, lines: Sequence[bytes],
                       file_id: str | None) -> HttpRequest:
        """The request that creates the job; ``tag`` (unique per job, at most 64 characters)
        must be findable again by :meth:`find_job`. ``file_id`` is the uploaded input, or
        None when :meth:`upload_request` returned None (the lines go inline)."""

    @abc.abstractmethod
    def parse_job(self, response: HttpResponse) -> JobStatus:
        """The job a create or poll reply describes (a cancel reply is not read: the
        core polls after cancelling)."""

    @abc.abstractmethod
    def poll_request(self, job_id: str) -> HttpRequest:
        """The request for the job's current state."""

    @abc.abstractmethod
    def cancel_request(self, job_id: str) -> HttpRequest:
        """The request that asks the provider to cancel the job."""

    @abc.abstractmethod
    def find_request(self, tag: str) -> HttpRequest:
        """The first page of a listing of the jobs, newest first, to find one created by a
        process that died before it could record the job's id (so it is never created
        twice). Ask for the largest page the provider allows."""

    @abc.abstractmethod
    def find_job(self, response: HttpResponse, tag: str,
                 since: float) -> JobStatus | HttpRequest | None:
        """The job tagged ``tag`` in one page of the listing (a reply to
        :meth:`find_request` or to a request this returned). Else the request for the next
        page, while there is one and this page still lists a job created at or after
        ``since`` (Unix seconds: a job created earlier cannot be the one looked for, so the
        search stops at the first page of older jobs); else None."""

    @abc.abstractmethod
    def parse_results(self, status: JobStatus,
                      responses: Sequence[HttpResponse]) -> Iterable[ItemOutcome]:
        """Every item outcome of a finished job, from the replies to
        :meth:`results_requests` (in their order), or from ``status.raw`` when inline."""

    # -- optional ---------------------------------------------------------------------------

    def upload_request(self, tag: str, data: bytes, *, mode: str = "auto") -> HttpRequest | None:
        """The first request uploading the job's input (``data``: the JSONL file), or None
        to send the lines inline with :meth:`create_request`. ``mode`` is the caller's
        preference: ``auto``, ``inline`` or ``file``."""
        return None

    def parse_upload(self, response: HttpResponse, data: bytes) -> str | HttpRequest:
        """The uploaded file's id, or the next request of a multi-step upload (a resumable
        upload's second step, which sends ``data``)."""
        raise NotImplementedError(f"{self.chat.name} uploads nothing")

    def results_requests(self, status: JobStatus) -> list[HttpRequest]:
        """The downloads a finished job's results need (none when they came inline)."""
        return []

    # -- helpers for adapters -----------------------------------------------------------------

    def item_error(self, key: str, status: int, error: Mapping[str, Any]) -> ItemOutcome:
        """An item outcome carrying the provider's error object as a chat error body."""
        return ItemOutcome(key, status, json.dumps({"error": error}).encode())

    def reply_object(self, response: HttpResponse) -> dict[str, Any]:
        """The JSON object a batch endpoint replied with; anything else is a
        MalformedResponseError naming the provider."""
        data = response.json(provider=self.provider)
        if not isinstance(data, dict):
            raise MalformedResponseError(f"{self.provider} sent a batch reply that is not an "
                                         f"object", provider=self.provider,
                                         body=response.content)
        return data

    def result_line(self, line: bytes, number: int, key: str) -> dict[str, Any]:
        """Line ``number`` of a result file: a JSON object holding ``key`` (the item's id
        field), else a MalformedResponseError naming the provider."""
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not isinstance(item, dict) or key not in item:
            raise MalformedResponseError(
                f"{self.provider} sent a batch result line {number} that is not a result "
                f"object", provider=self.provider, body=line)
        return item


def multipart(parts: Sequence[tuple[Mapping[str, str], bytes]], *,
              subtype: str = "form-data") -> tuple[str, bytes]:
    """A ``multipart/<subtype>`` body from (headers, content) parts: the content type (with
    its boundary) and the bytes (RFC 7578 / RFC 2387)."""
    boundary = f"jtd-ai-{uuid.uuid4().hex}"
    out = bytearray()
    for headers, content in parts:
        out += f"--{boundary}\r\n".encode()
        for name, value in headers.items():
            out += f"{name}: {value}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/{subtype}; boundary={boundary}", bytes(out)
