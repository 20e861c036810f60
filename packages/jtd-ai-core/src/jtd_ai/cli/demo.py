"""``jtd-ai demo``: the real stack end to end, offline, with no keys.

It starts the fake provider server (:mod:`jtd_ai.testing.server`) on loopback and points the
installed OpenAI, Gemini and Ollama drivers at it through an isolated manager (no config
file, no environment, a throw-away catalog and ledger): a chat, a streamed reply, a batch
with a progress bar, the model catalog with prices, and what it all cost.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from jtd_ai.cli.output import money, table
from jtd_ai.cli.progress import make_display
from jtd_ai.cli.render import status_line

if TYPE_CHECKING:
    from jtd_ai.manager import AIManager
    from jtd_ai.testing.server import FakeProviderServer

__all__ = ["demo"]

FAKE_KEY = "demo-key-not-secret"
#: The drivers the fake server speaks, their package, and the model the demo uses.
SPOKEN = {"openai": ("jtd-ai-openai", "gpt-4o-mini"),
          "gemini": ("jtd-ai-gemini", "gemini-2.5-flash"),
          "ollama": ("jtd-ai-ollama", "llama3.2:latest")}


def _heading(number: int, text: str) -> None:
    click.echo()
    click.secho(f"{number}. {text}", bold=True)


def _settings(server: FakeProviderServer, names: list[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {"echo": {}}
    return {name: {"driver": name, "base_url": server.base_url(name), "api_key": FAKE_KEY,
                   "default_model": SPOKEN[name][1]} for name in names}


def _chat(ai: AIManager, names: list[str]) -> None:
    _heading(1, "Chat: one reply from each provider")
    for name in names:
        reply = ai.conversation(name).message("Hello from the jtd-ai demo!").send()
        click.echo(f"  {name:8} {reply.content!r}  {status_line(reply)}")


def _stream(ai: AIManager, name: str) -> None:
    _heading(2, f"Streaming: {name}, printed chunk by chunk as it arrives")
    stream = ai.conversation(name).message(
        "Streaming shows each piece of the reply as soon as the provider sends it").stream()
    click.echo("  ", nl=False)
    chunks = 0
    with stream:
        for chunk in stream:
            if chunk.delta:
                chunks += 1
                click.echo(chunk.delta, nl=False)  # flushed at once
    click.echo()
    if stream.response is not None:
        click.echo(f"  {chunks} chunks  {status_line(stream.response)}")


def _batch(ai: AIManager, name: str, size: int, concurrency: int, quiet: bool) -> None:
    _heading(3, f"Batch: {size} prompts to {name}, {concurrency} at a time, in order")
    from jtd_ai.errors import AIError

    display = make_display("  batch", size, quiet=quiet)
    try:
        results = ai.driver(name).send_batch(
            [f"Batch prompt number {i + 1}" for i in range(size)], concurrency=concurrency,
            progress=display.update)
    finally:
        display.stop()
    failed = [r for r in results if isinstance(r, AIError)]
    first = results[0]
    click.echo(f"  {len(results) - len(failed)} ok, {len(failed)} failed; first reply: "
               f"{first.content if not isinstance(first, AIError) else first!s}")


def _catalog(ai: AIManager, names: list[str]) -> None:
    _heading(4, "Catalog: each provider's models, synced into the local catalog, with prices")
    report = ai.sync_models(names)
    click.echo("  " + report.summary().replace("\n", "\n  "))
    rows = []
    for name in names:
        driver = ai.driver(name)
        for model in ai.catalog.models(name):
            price = model.pricing or driver.pricing(model.id)
            rows.append([name, model.id, str(model.kind), model.context_length,
                         money(price.input) if price else None,
                         money(price.output) if price else None])
    table(["provider", "model", "kind", "context", "in $/M", "out $/M"], rows)


def _cost(ai: AIManager) -> None:
    _heading(5, "Cost: what this demo spent, from the usage ledger (one row per call)")
    totals = ai.usage.totals(by=("provider", "model"))
    overall = ai.usage.total()
    rows = [[t.group["provider"], t.group["model"], t.calls, t.input_tokens, t.output_tokens,
             money(t.cost)] for t in totals]
    rows.append(["total", "", overall.calls, overall.input_tokens, overall.output_tokens,
                 money(overall.cost)])
    table(["provider", "model", "calls", "tokens in", "tokens out", "cost"], rows)


@click.command()
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=40, show_default=True,
              help="Prompts in the batch step.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Batch requests in flight at once.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def demo(batch_size: int, concurrency: int, quiet: bool) -> None:
    """Run the real drivers against a fake provider server on loopback: no network, no keys.

    Shows a chat, a streamed reply, a batch with a progress bar, the model catalog with
    prices and the cost, using whichever of the openai, gemini and ollama drivers are
    installed (pip install 'jtd-ai[all]' for all three).
    """
    from jtd_ai.manager import AIManager
    from jtd_ai.plugins import DriverRegistry
    from jtd_ai.testing.server import FakeProviderServer

    listed = {d.name: d for d in DriverRegistry().listings()}
    names = [n for n in SPOKEN if n in listed]
    with FakeProviderServer(api_key=FAKE_KEY) as server, \
            tempfile.TemporaryDirectory(prefix="jtd-ai-demo-") as home:
        click.secho("jtd-ai offline demo", bold=True)
        click.echo(f"Fake provider server on {server.url} (loopback only, fake keys; it "
                   f"answers \"echo: <your prompt>\" in each provider's own wire format).")
        for name in SPOKEN:
            found = listed.get(name)
            click.echo(f"  {name:8} " + (f"{found.distribution} {found.version}: real driver, "
                                          f"real HTTP" if found else
                                          f"missing: pip install 'jtd-ai[{name}]'"))
        if not names:
            click.echo("No HTTP driver is installed: showing the built-in echo driver.")
        shown = names or ["echo"]
        store = {"path": str(Path(home) / "demo.db")}
        with AIManager(config_file=False, env={}, providers=_settings(server, names),
                       default=shown[0], store=store) as ai:
            _chat(ai, shown)
            _stream(ai, shown[0])
            _batch(ai, shown[0], batch_size, concurrency, quiet)
            _catalog(ai, shown)
            _cost(ai)
    click.echo()
    click.echo("Next, with a real key:  export OPENAI_API_KEY=...  then  "
               "jtd-ai chat -p openai \"Hello\"   (docs/cli.md, docs/configuration.md)")
