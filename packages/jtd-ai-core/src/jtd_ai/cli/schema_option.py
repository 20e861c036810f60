"""``--schema``: what a reply must be, from a JSON schema file or a ``module:Class`` type.

The chat command parses its reply into it (:mod:`jtd_ai.structured`; a schema file's reply is
checked against it with jsonschema, which the ``cli`` extra installs) and prints the parsed
value as JSON.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

from jtd_ai.cli.exits import USAGE, CliError

__all__ = ["load_output", "parsed_json"]

_REFERENCE = re.compile(r"(?P<module>[A-Za-z_][\w.]*):(?P<name>[A-Za-z_][\w.]*)")


def load_output(value: str) -> Any:
    """The type ``module:Class`` names, or the JSON schema in the file ``value``, checked as
    ``output=`` checks it (a type with no JSON schema, a file that is not a valid JSON
    schema); a CliError (exit 2) saying what is wrong otherwise, before anything is sent."""
    from jtd_ai.errors import ValidationError
    from jtd_ai.structured import output_spec

    output = _load(value)
    try:
        output_spec(output)
    except ValidationError as exc:
        raise CliError(f"--schema {value}: {exc}; nothing was sent", USAGE) from None
    return output


def _load(value: str) -> Any:
    match = _REFERENCE.fullmatch(value)
    if match is not None and not Path(value).exists():
        return _import(match["module"], match["name"])
    try:
        schema = json.loads(Path(value).read_text(encoding="utf-8"))
    except OSError as error:
        raise CliError(f"--schema {value}: cannot read it ({error.strerror or error}); give "
                       f"a JSON schema file or module:Class", USAGE) from None
    except ValueError as error:
        raise CliError(f"--schema {value}: not JSON ({error})", USAGE) from None
    if not isinstance(schema, dict):
        raise CliError(f"--schema {value}: a JSON schema is an object, not "
                       f"{type(schema).__name__}", USAGE)
    return schema


def _import(module: str, name: str) -> Any:
    try:
        found: Any = importlib.import_module(module)
    except ImportError as error:
        raise CliError(f"--schema {module}:{name}: cannot import {module} ({error})",
                       USAGE) from None
    for part in name.split("."):
        if not hasattr(found, part):
            raise CliError(f"--schema {module}:{name}: {module} has no {name}", USAGE)
        found = getattr(found, part)
    return found


def parsed_json(value: Any) -> Any:
    """A parsed reply as JSON data (a raw schema's reply already is)."""
    from jtd_ai.schema import plain

    return plain(value)
