"""The fake server's batch endpoints as the official clients (openai, google-genai) use them:
they follow the providers' documented formats, not only what jtd-ai's drivers send. Also its
compressed time (a job ends after N polls, or after a set fraction of a second)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jtd_ai.testing import FakeProviderServer

openai = pytest.importorskip("openai")
genai = pytest.importorskip("google.genai")
genai_types = pytest.importorskip("google.genai.types")

KEY = "sk-batch-sdk-key-7c1a"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def _two_polls(server: FakeProviderServer) -> None:
    server.batches.polls = 2
    server.batches.seconds = None
    server.batches.outcome = "completed"


def openai_line(key: str, text: str) -> dict[str, object]:
    return {"custom_id": key, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}}


def test_openai_client_runs_a_batch(server: FakeProviderServer) -> None:
    lines = [openai_line("a", "hello batch"), openai_line("b", "second [fail] one")]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    with openai.OpenAI(api_key=KEY, base_url=server.base_url("openai"), max_retries=0,
                       timeout=5) as client:
        uploaded = client.files.create(file=("input.jsonl", data), purpose="batch")
        assert uploaded.purpose == "batch" and uploaded.bytes == len(data)
        job = client.batches.create(input_file_id=uploaded.id,
                                    endpoint="/v1/chat/completions", completion_window="24h",
                                    metadata={"name": "sdk"})
        assert job.status == "validating" and job.metadata == {"name": "sdk"}
        assert client.batches.retrieve(job.id).status == "in_progress"
        done = client.batches.retrieve(job.id)
        assert done.status == "completed"
        assert done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed,
                done.request_counts.failed) == (2, 1, 1)
        assert done.output_file_id and done.error_file_id
        output = [json.loads(x) for x in client.files.content(done.output_file_id).text
                  .splitlines()]
        errors = [json.loads(x) for x in client.files.content(done.error_file_id).text
                  .splitlines()]
        listed = client.batches.list(limit=5)
        assert job.id in [b.id for b in listed.data]
        cancel_me = client.batches.create(input_file_id=uploaded.id,
                                          endpoint="/v1/chat/completions",
                                          completion_window="24h")
        assert client.batches.cancel(cancel_me.id).status == "cancelling"
        assert client.batches.retrieve(cancel_me.id).status == "cancelled"
    assert output[0]["custom_id"] == "a"
    body = output[0]["response"]["body"]
    assert body["choices"][0]["message"]["content"] == "echo: hello batch"
    assert errors[0]["custom_id"] == "b" and errors[0]["response"]["status_code"] == 400


@pytest.fixture
def gemini(server: FakeProviderServer) -> Iterator[genai.Client]:
    options = genai_types.HttpOptions(base_url=server.url, api_version="v1beta", timeout=5000)
    with genai.Client(api_key=KEY, http_options=options) as client:
        yield client


def test_google_genai_client_runs_an_inline_batch(gemini: genai.Client) -> None:
    requests = [{"contents": [{"parts": [{"text": "inline hello"}], "role": "user"}]},
                {"contents": [{"parts": [{"text": "inline [fail]"}], "role": "user"}]}]
    job = gemini.batches.create(model="gemini-2.5-flash", src=requests,
                                config={"display_name": "sdk-inline"})
    assert job.name and job.state == genai_types.JobState.JOB_STATE_PENDING
    gemini.batches.get(name=job.name)
    done = gemini.batches.get(name=job.name)
    assert done.state == genai_types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.inlined_responses is not None
    first, second = done.dest.inlined_responses
    assert first.response is not None and first.response.text == "echo: inline hello"
    assert second.error is not None and second.error.code == 3


def test_google_genai_client_uploads_runs_and_downloads_a_file_batch(
        gemini: genai.Client, tmp_path: Path) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_text(json.dumps({"key": "r1", "request": {"contents": [
        {"parts": [{"text": "from a file"}], "role": "user"}]}}) + "\n", encoding="utf-8")
    uploaded = gemini.files.upload(file=source, config={"display_name": "sdk-file",
                                                        "mime_type": "application/jsonl"})
    assert uploaded.name is not None
    job = gemini.batches.create(model="gemini-2.5-flash", src=uploaded.name)
    assert job.name is not None
    gemini.batches.get(name=job.name)
    done = gemini.batches.get(name=job.name)
    assert done.state == genai_types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest is not None and done.dest.file_name
    content = gemini.files.download(file=done.dest.file_name)
    (line,) = [json.loads(x) for x in content.decode().splitlines()]
    assert line["key"] == "r1"
    assert line["response"]["candidates"][0]["content"]["parts"][0]["text"] == \
        "echo: from a file"


def test_jobs_can_end_after_a_fraction_of_a_second(server: FakeProviderServer) -> None:
    server.batches.polls = 1_000_000
    server.batches.seconds = 0.05
    data = (json.dumps(openai_line("t", "timed")) + "\n").encode()
    with openai.OpenAI(api_key=KEY, base_url=server.base_url("openai"), max_retries=0,
                       timeout=5) as client:
        uploaded = client.files.create(file=("t.jsonl", data), purpose="batch")
        job = client.batches.create(input_file_id=uploaded.id,
                                    endpoint="/v1/chat/completions", completion_window="24h")
        assert client.batches.retrieve(job.id).status == "in_progress"
        time.sleep(0.06)
        assert client.batches.retrieve(job.id).status == "completed"


def test_openai_client_pages_through_the_batches(server: FakeProviderServer) -> None:
    data = (json.dumps(openai_line("p", "paged")) + "\n").encode()
    with openai.OpenAI(api_key=KEY, base_url=server.base_url("openai"), max_retries=0,
                       timeout=5) as client:
        uploaded = client.files.create(file=("p.jsonl", data), purpose="batch")
        made = [client.batches.create(input_file_id=uploaded.id,
                                      endpoint="/v1/chat/completions",
                                      completion_window="24h").id for _ in range(5)]
        first = client.batches.list(limit=2)
        assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
        listed = [b.id for b in client.batches.list(limit=2)]  # the client follows `after`
        with pytest.raises(openai.BadRequestError):
            client.batches.list(limit=101)
    newest = listed[:len(made)]
    assert newest == made[::-1]  # newest first, each once
    assert len(listed) == len(set(listed))


def test_google_genai_client_pages_through_the_batches(gemini: genai.Client) -> None:
    request = {"contents": [{"parts": [{"text": "paged"}], "role": "user"}]}
    made = [gemini.batches.create(model="gemini-2.5-flash", src=[request]).name
            for _ in range(5)]
    listed = [job.name for job in gemini.batches.list(config={"page_size": 2})]
    assert listed[:5] == made[::-1]  # newest first, every page followed
    assert len(listed) == len(set(listed))
    assert all(job.create_time is not None for job in gemini.batches.list(
        config={"page_size": 2}))


def test_a_cancelled_openai_batch_keeps_what_it_finished(server: FakeProviderServer) -> None:
    """A batch cancelled while it runs ends ``cancelled`` with the items it finished in its
    output file (platform.openai.com/docs/api-reference/batch/cancel), the rest as
    ``batch_cancelled`` lines of its error file."""
    server.batches.polls = 1_000
    data = "".join(json.dumps(openai_line(f"c{i}", f"cancel {i}")) + "\n"
                   for i in range(4)).encode()
    with openai.OpenAI(api_key=KEY, base_url=server.base_url("openai"), max_retries=0,
                       timeout=5) as client:
        uploaded = client.files.create(file=("c.jsonl", data), purpose="batch")
        job = client.batches.create(input_file_id=uploaded.id,
                                    endpoint="/v1/chat/completions", completion_window="24h")
        assert client.batches.retrieve(job.id).status == "in_progress"
        assert client.batches.cancel(job.id).status == "cancelling"
        done = client.batches.retrieve(job.id)
        assert done.status == "cancelled"
        assert done.output_file_id and done.error_file_id
        output = [json.loads(x) for x in client.files.content(done.output_file_id).text
                  .splitlines()]
        errors = [json.loads(x) for x in client.files.content(done.error_file_id).text
                  .splitlines()]
    assert [line["custom_id"] for line in output] == ["c0", "c1"]
    assert output[0]["response"]["body"]["choices"][0]["message"]["content"] == \
        "echo: cancel 0"
    assert [(e["custom_id"], e["error"]["code"]) for e in errors] == [
        ("c2", "batch_cancelled"), ("c3", "batch_cancelled")]
