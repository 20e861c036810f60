"""Configuration that cannot work is a ConfigurationError naming the file or the key, found
before anything is sent; no secret shows in any repr or message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from jtd_ai import AIManager, ConfigurationError, ProviderConfig, Secret
from jtd_ai.protocol import ChatProtocol
from jtd_ai.secret import mask_url, redact
from jtd_ai.testing import ScriptedTransport

KEY = "test-key-0penai-PLAIN-9f3b2c71d4"
OPENAI_REPLY = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1000000, "completion_tokens": 1000000,
              "total_tokens": 2000000}}


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "jtd-ai.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def from_file(tmp_path: Path, text: str | bytes, env: dict[str, str] | None = None,
              transport: httpx.BaseTransport | None = None) -> AIManager:
    return AIManager(config_file=write(tmp_path, text), env=env or {"OPENAI_API_KEY": KEY},
                     transports={"openai": transport} if transport is not None else None)


def openai(transport: httpx.BaseTransport | None = None, **settings: Any) -> AIManager:
    return AIManager(providers={"openai": settings}, config_file=False,
                     env={"OPENAI_API_KEY": KEY},
                     transports={"openai": transport} if transport is not None else None)


# -- the file ----------------------------------------------------------------------------------


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, b'[providers.openai]\ndefault_model = "caf\xe9"\n')
    with pytest.raises(ConfigurationError) as info:
        AIManager(config_file=path, env={}).providers()
    assert str(path) in str(info.value) and "UTF-8" in str(info.value)
    assert "0xe9" in str(info.value)


@pytest.mark.parametrize("value", ["[" * 50_000 + "]" * 50_000,
                                   "{a=" * 5_000 + "1" + "}" * 5_000])
def test_a_file_nested_too_deeply_names_the_file(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"x = {value}\n")
    with pytest.raises(ConfigurationError) as info:
        AIManager(config_file=path, env={}).providers()
    assert str(path) in str(info.value) and "too deeply" in str(info.value)


@pytest.mark.parametrize(("text", "suggestion"), [
    ("[stor]\npath = \"x.db\"\n", "'store'"),
    ("[provider.openai]\n", "'providers'"),
    ("defualt = \"openai\"\n", "'default'"),
    ("[budgets]\nlimit = 5\n", "'budget'"),
])
def test_an_unknown_top_level_name_suggests_the_nearest(tmp_path: Path, text: str,
                                                        suggestion: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        AIManager(config_file=path, env={}).providers()
    assert f"did you mean {suggestion}" in str(info.value)
    assert str(path) in str(info.value)


def test_a_misspelled_provider_key_suggests_the_nearest_before_sending(tmp_path: Path) -> None:
    transport = ScriptedTransport()  # nothing scripted: any request fails the test
    manager = from_file(tmp_path, "[providers.openai]\nretry_attemps = 5\n", transport=transport)
    with pytest.raises(ConfigurationError) as info:
        manager.driver("openai").send_message("hi")
    message = str(info.value)
    assert "retry_attemps" in message and "did you mean 'retry_attempts'" in message
    assert "providers.openai" in message
    assert transport.requests == []


@pytest.mark.parametrize(("driver", "key", "nearest"), [
    ("openai", "organisation", "organization"),
    ("ollama", "keepalive", "keep_alive"),
    ("gemini", "generation_conifg", "generation_config"),
    ("echo", "time_out", "timeout"),
])
def test_each_driver_knows_its_own_option_names(driver: str, key: str, nearest: str) -> None:
    manager = AIManager(providers={"p": {"driver": driver, "api_key": KEY, key: "x"}},
                        config_file=False, env={})
    with pytest.raises(ConfigurationError, match=f"did you mean '{nearest}'"):
        manager.driver("p")


@pytest.mark.parametrize(("driver", "options"), [
    ("openai", {"organization": "org-1", "project": "p", "max_tokens_field": "max_tokens"}),
    ("xai", {"system_role": "developer"}),
    ("gemini", {"generation_config": {"topK": 40}, "models_page_size": 50,
                "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                     "threshold": "BLOCK_NONE"}]}),
    ("ollama", {"options": {"top_k": 20}, "num_ctx": 8192, "keep_alive": "10m",
                "think": "low"}),
    ("echo", {"keep_raw": False, "http_backend": "httpx", "models_ttl": 0,
              "api_key_required": False, "prices": {"echo-1": {"input": 1, "output": 2}}}),
])
def test_known_options_are_accepted(driver: str, options: dict[str, Any]) -> None:
    manager = AIManager(providers={"p": {"driver": driver, "api_key": KEY, **options}},
                        config_file=False, env={})
    assert manager.driver("p").config.option(next(iter(options))) is not None


def test_a_driver_that_declares_no_options_still_gets_them(caplog) -> None:
    class Undeclared(ChatProtocol):
        name = "undeclared"

        def chat_request(self, request, *, stream):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def parse_chat(self, response, request):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def parse_error(self, response):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    manager = AIManager(providers={"u": {"driver": "undeclared", "region": "eu",
                                         "retry_atempts": 2}}, config_file=False, env={})
    manager.extend("undeclared", Undeclared, default_base_url="http://u.invalid")
    with caplog.at_level(logging.WARNING, logger="jtd_ai.config"):
        driver = manager.driver("u")
    assert driver.config.option("region") == "eu"
    warned = [r.getMessage() for r in caplog.records]
    assert any("retry_atempts" in m and "retry_attempts" in m for m in warned)
    assert not any("region" in m for m in warned)


# -- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "key"), [
    ("retry_max_delay = -1", "retry_max_delay"), ("retry_max_delay = nan", "retry_max_delay"),
    ("retry_max_delay = inf", "retry_max_delay"), ("connect_timeout = 1e308", "connect_timeout"),
    ("timeout = inf", "timeout"), ("timeout = -inf", "timeout"), ("timeout = nan", "timeout"),
    ("timeout = true", "timeout"), ("deadline = 100000", "deadline"),
    ("stream_idle_timeout = 0", "stream_idle_timeout"), ("retry_attempts = 1000", "retry_attempts"),
    ("retry_attempts = 2.5", "retry_attempts"), ("retry_delay = -5", "retry_delay"),
    ("retry_delay = 1e300", "retry_delay"), ("requests_per_minute = nan", "requests_per_minute"),
    ("tokens_per_minute = inf", "tokens_per_minute"), ("max_response_size = 0", "max_response_size"),
    ("max_line_size = 1.5", "max_line_size"), ("max_response_size = 99999999999999999", "max_response_size"),
    ("models_ttl = nan", "models_ttl"), ("verify = \"false\"", "verify"),
    ("keep_raw = \"no\"", "keep_raw"), ("trust_store = \"sytem\"", "trust_store"),
])
def test_a_number_out_of_range_names_the_key(tmp_path: Path, line: str, key: str) -> None:
    transport = ScriptedTransport()
    manager = from_file(tmp_path, f"[providers.openai]\n{line}\n", transport=transport)
    with pytest.raises(ConfigurationError) as info:
        manager.driver("openai").send_message("hi")
    assert f"providers.openai.{key}" in str(info.value)
    assert transport.requests == []


def test_whole_floats_are_whole_numbers_and_limits_are_inclusive() -> None:
    config = openai(retry_attempts=4.0, retry_delay=0, retry_max_delay=0, timeout=86400,
                    max_response_size=1024.0).provider_config("openai")
    assert config.retry_attempts == 4 and isinstance(config.retry_attempts, int)
    assert config.max_response_size == 1024 and config.timeout == 86400
    with pytest.raises(ConfigurationError, match="did you mean 'system'"):
        openai(trust_store="sytem").provider_config("openai")


# -- URLs --------------------------------------------------------------------------------------


def test_scheme_case_does_not_matter_and_is_normalised() -> None:
    config = openai(base_url="HTTPS://Api.Example.com/v1").provider_config("openai")
    assert config.base_url == "https://Api.Example.com/v1"
    transport = ScriptedTransport(httpx.Response(200, json=OPENAI_REPLY))
    openai(transport, base_url="HtTp://api.example.com/v1").driver("openai").send_message("hi")
    assert str(transport.requests[0].url) == "http://api.example.com/v1/chat/completions"


@pytest.mark.parametrize(("url", "problem"), [
    ("https://" + "a" * 64 + ".example.com/v1", "63"),
    ("https://" + "a.b" * 100 + ".com", "253"),
    ("https://bad..host/v1", "empty label"),
    ("ftp://host/v1", "must start with http"),
    ("file:///etc/passwd", "must start with http"),
    ("https://", "no host"),
    ("https://host:99999/v1", "not a valid URL"),
    ("https://ho st/v1", "host name"),
    ("https://host/v1\n", "control character"),
    ("https://hôst/v1", "punycode"),
    ("https://host/v1?key=1", "query"),
])
def test_an_unusable_base_url_is_refused(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as info:
        openai(base_url=url).provider_config("openai")
    assert "providers.openai.base_url" in str(info.value)


def test_a_63_character_label_is_fine() -> None:
    url = "https://" + "a" * 63 + ".example.com/v1"
    assert openai(base_url=url).provider_config("openai").base_url == url


@pytest.mark.parametrize("value", ["file:///x", "ftp://gpu-box", "unix:///var/run/ollama.sock"])
def test_ollama_host_with_another_scheme_is_refused(value: str) -> None:
    manager = AIManager(config_file=False, env={"OLLAMA_HOST": value})
    with pytest.raises(ConfigurationError) as info:
        manager.provider_config("ollama")
    assert "$OLLAMA_HOST" in str(info.value)
    # Refused for its scheme, not rewritten into http://file:... (a host name to look up).
    assert f"not a {value.split(':')[0]}:// URL" in str(info.value)


@pytest.mark.parametrize(("value", "expected"), [
    ("HTTP://gpu-box:11500", "http://gpu-box:11500"), ("gpu-box", "http://gpu-box:11434"),
])
def test_ollama_host_forms(value: str, expected: str) -> None:
    manager = AIManager(config_file=False, env={"OLLAMA_HOST": value})
    assert manager.provider_config("ollama").base_url == expected


def test_proxy_must_be_http() -> None:
    with pytest.raises(ConfigurationError, match=r"providers\.openai\.proxy"):
        openai(proxy="socks5://127.0.0.1:1080").provider_config("openai")
    assert openai(proxy="").provider_config("openai").proxy == ""
    assert openai(proxy="HTTP://proxy:3128").provider_config("openai").proxy == (
        "http://proxy:3128")


# -- prices ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "problem"), [
    ({"input": "abc", "output": 1}, "prices.gpt-4o-mini"),
    ({"inptu": 1, "output": 1}, "did you mean 'input'"),
    ({"input": -1, "output": 1}, "negative|from 0"),
    ({"input": float("nan"), "output": 1}, "prices.gpt-4o-mini"),
    ({"input": float("inf"), "output": 1}, "prices.gpt-4o-mini"),
    ({"output": 1}, "needs input"),
    ({"input": True, "output": 1}, "prices.gpt-4o-mini"),
    (5, "must be a table"),
    ({"input": 1, "output": 1, "tiers": [{"above_input_tokens": -1, "input": 1,
                                          "output": 1}]}, "above_input_tokens"),
])
def test_a_bad_price_override_fails_before_the_paid_call(entry: Any, problem: str) -> None:
    transport = ScriptedTransport(httpx.Response(200, json=OPENAI_REPLY))
    manager = openai(transport, prices={"gpt-4o-mini": entry})
    with pytest.raises(ConfigurationError, match=problem):
        manager.driver("openai").send_message("hi")
    assert transport.requests == []  # found before asking, not after the reply


def test_a_good_price_override_prices_the_reply() -> None:
    transport = ScriptedTransport(httpx.Response(200, json=OPENAI_REPLY))
    manager = openai(transport, prices={"gpt-4o-mini": {"input": "0.5", "output": 2}})
    reply = manager.driver("openai").send_message("hi")
    assert reply.cost is not None and str(reply.cost) == "2.5"
    assert reply.pricing is not None and reply.pricing.source == "config"


# -- keys, headers and what reprs show --------------------------------------------------------------


@pytest.mark.parametrize("bad", [KEY + "\n", KEY + "\r\n", "\t" + KEY, KEY[:10] + "é" + KEY[10:],
                                 KEY + " ", KEY[:5] + "\x00" + KEY[5:], KEY + "\udcff"])
def test_a_key_with_control_or_non_ascii_characters_is_refused(bad: str) -> None:
    from_env = AIManager(config_file=False, env={"OPENAI_API_KEY": bad})
    with pytest.raises(ConfigurationError) as info:
        from_env.provider_config("openai")
    assert "$OPENAI_API_KEY" in str(info.value)
    assert KEY[:12] not in str(info.value)
    from_file = AIManager(providers={"openai": {"api_key": bad}}, config_file=False, env={})
    with pytest.raises(ConfigurationError) as info:
        from_file.provider_config("openai")
    assert "providers.openai.api_key" in str(info.value)
    assert KEY[:12] not in str(info.value)


@pytest.mark.parametrize("headers", [{"X-Team": "a\r\nInjected: 1"}, {"Bad Name": "x"},
                                     {"X-Team": 5}, {"X-Team": "naïve"}])
def test_headers_that_cannot_be_sent_are_refused(headers: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=r"providers\.openai\.headers"):
        openai(headers=headers).provider_config("openai")


def test_reprs_show_no_secret() -> None:
    password = "hunter2-pass"
    manager = AIManager(providers={"openai": {
        "api_key": KEY, "headers": {"Authorization": "Bearer hdr-secret-value",
                                    "X-Custom-Token": "custom-secret-value"},
        "base_url": f"https://me:{password}@llm.example.com/v1",
        "proxy": "http://proxyuser:proxy-pass-99@proxy.example:3128",
        "organization": "org-secret-value",
    }}, config_file=False, env={})
    config = manager.provider_config("openai")
    shown = repr(config) + repr(manager.settings)
    for secret in (KEY, "hdr-secret-value", "custom-secret-value", password, "proxy-pass-99",
                   "org-secret-value"):
        assert secret not in shown, secret
    assert "llm.example.com" in shown and "Authorization" in shown  # still useful
    # The URL passwords are known secrets now: redacted wherever they appear.
    assert password not in redact(f"connect to {password} failed")
    assert mask_url("https://u:p4ss@h/x") == "https://u:[REDACTED]@h/x"
    # The real values still reach the request.
    assert config.base_url is not None and password in config.base_url


def test_misspelled_keys_and_options_show_no_value() -> None:
    config = ProviderConfig(name="p", driver="echo",
                            options={"api_kye": KEY, "nested": {"token": KEY, "n": 3}})
    assert KEY not in repr(config)
    assert "api_kye" in repr(config) and "'n': 3" in repr(config)
    manager = AIManager(providers={"p": {"driver": "echo", "apikey": KEY}}, config_file=False,
                        env={})
    assert KEY not in repr(manager.settings)
    with pytest.raises(ConfigurationError) as info:
        manager.driver("p")
    assert KEY not in str(info.value) and "did you mean 'api_key'" in str(info.value)


def test_a_secret_is_still_a_secret() -> None:
    assert KEY not in repr(ProviderConfig(name="p", driver="echo", api_key=Secret(KEY)))


# -- arguments from code ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"providers": "openai"}, {"providers": {"openai": 5}}, {"providers": {5: {}}},
    {"store": "x"}, {"default": 5}, {"env": "x"}, {"config_file": 5},
])
def test_wrong_argument_shapes_are_configuration_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        manager = AIManager(**{"config_file": False, **kwargs})
        manager.providers()


def test_json_unfriendly_driver_options_are_refused(tmp_path: Path) -> None:
    text = ("[providers.gemini]\napi_key = \"k-123456\"\n"
            "generation_config = { seed_date = 1979-05-27 }\n")
    with pytest.raises(ConfigurationError, match="generation_config"):
        from_file(tmp_path, text).driver("gemini")
    with pytest.raises(ConfigurationError, match="options"):
        AIManager(providers={"ollama": {"options": {"top_k": float("nan")}}},
                  config_file=False, env={}).driver("ollama")
    with pytest.raises(ConfigurationError, match="models_page_size"):
        AIManager(providers={"gemini": {"api_key": "k-123456", "models_page_size": 0}},
                  config_file=False, env={}).driver("gemini")
