"""``python -m jtd_ai`` / ``jtd-ai``: a first, small command line (chat and drivers)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jtd-ai", description="Talk to AI chat providers.")
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="send one prompt and stream the reply")
    chat.add_argument("prompt", nargs="?", help="the prompt (read from stdin when omitted)")
    chat.add_argument("-p", "--provider", help="provider name (default: the configured one)")
    chat.add_argument("-m", "--model", help="model id (default: the provider's)")
    chat.add_argument("-s", "--system", help="system prompt")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole reply")
    chat.add_argument("--json", action="store_true", help="print the reply as JSON")
    drivers = sub.add_parser("drivers", help="list installed drivers (imports none of them)")
    drivers.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from jtd_ai.errors import AIError
    from jtd_ai.manager import AI

    try:
        if args.command == "drivers":
            listings = AI.drivers()
            if args.json:
                print(json.dumps([{"name": d.name, "distribution": d.distribution,
                                   "version": d.version, "target": d.target} for d in listings]))
            else:
                for d in listings:
                    print(f"{d.name:12} {d.distribution or '-'} {d.version or ''}")
            return 0
        prompt = args.prompt if args.prompt is not None else sys.stdin.read()
        conversation = AI.conversation(args.provider)
        if args.model:
            conversation.model(args.model)
        if args.system:
            conversation.system(args.system)
        conversation.message(prompt)
        if args.no_stream or args.json:
            reply = conversation.send()
            if args.json:
                usage = reply.usage
                print(json.dumps({
                    "content": reply.content, "model": reply.model, "provider": reply.provider,
                    "finish_reason": reply.finish_reason,
                    "input_tokens": usage.input_tokens if usage else None,
                    "output_tokens": usage.output_tokens if usage else None,
                    "cost": str(reply.cost) if reply.cost is not None else None,
                }))
            else:
                print(reply.content)
            return 0
        stream = conversation.stream()
        for chunk in stream:
            print(chunk.delta, end="", flush=True)
        print()
        final = stream.response
        usage = final.usage if final is not None else None
        if final is not None and usage is not None:
            cost = f", cost ${final.cost:.6f}" if final.cost is not None else ""
            print(f"[{final.provider}/{final.model}: {usage.input_tokens} in, "
                  f"{usage.output_tokens} out{cost}, {final.latency or 0:.3f}s]",
                  file=sys.stderr)
        return 0
    except AIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
