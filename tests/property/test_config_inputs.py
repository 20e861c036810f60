"""Property: whatever the configuration says (provider tables given as dicts, TOML files,
damaged files, environment variables), using a provider succeeds or raises a jtd_ai error,
and a ConfigurationError or ValidationError means no request reached the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from propkit import (
    DRIVERS,
    KEY,
    KEY_VARS,
    MODELS,
    Server,
    damage,
    damaged,
    environments,
    examples,
    holds,
    provider_tables,
    toml_text,
    top_level,
)

from jtd_ai import AIManager

SERVER = Server()


def use(manager_args: dict[str, Any], provider: str | None) -> Any:
    """Build a manager from ``manager_args`` and send one prompt through ``provider``."""
    manager = AIManager(transports=SERVER.transports, **manager_args)
    # The ollama driver has no default model: name one, unless the provider is left out.
    model = MODELS["ollama"] if provider == "ollama" else None
    try:
        return manager.driver(provider).send_message("hi", model=model)
    finally:
        manager.close()


def _keys() -> dict[str, str]:
    return dict.fromkeys(KEY_VARS.values(), KEY)


@examples(600)
@given(driver=st.sampled_from(DRIVERS), data=st.data())
def test_provider_table_from_code(driver: str, data: st.DataObject) -> None:
    table = data.draw(provider_tables(driver), label="table")
    holds(SERVER, lambda: use({"providers": {driver: table}, "config_file": False,
                               "env": _keys()}, driver))


@examples(400)
@given(data=st.data(), top=top_level, how=damage)
def test_config_file(workdir: Path, data: st.DataObject, top: dict[str, Any], how: Any) -> None:
    chosen = data.draw(st.lists(st.sampled_from(DRIVERS), min_size=1, max_size=2, unique=True),
                       label="providers")
    providers = {d: data.draw(provider_tables(d), label=f"[providers.{d}]") for d in chosen}
    raw = toml_text(top, providers).encode("utf-8", "surrogatepass")  # a surrogate: bad UTF-8
    path = workdir / "jtd-ai.toml"
    path.write_bytes(damaged(raw, how))
    env = {"JTD_AI_HOME": str(workdir / "home"), "XDG_CONFIG_HOME": str(workdir / "xdg"),
           **_keys()}
    holds(SERVER, lambda: use({"config_file": path, "env": env},
                              chosen[0] if chosen else None))


@examples(400)
@given(env=environments, provider=st.sampled_from([None, *DRIVERS]))
def test_environment(workdir: Path, env: dict[str, str], provider: str | None) -> None:
    full = {**env, "JTD_AI_HOME": str(workdir / "home"),
            "XDG_CONFIG_HOME": str(workdir / "xdg")}
    holds(SERVER, lambda: use({"config_file": None, "env": full}, provider))
