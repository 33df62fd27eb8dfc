"""The lookup token and the loopback rule: where the token comes from, what a bad one says.

Guards against issue 13's exposure item: nothing authenticated lookups, so a listener bound
beyond loopback served people's sightings to anyone who could reach the port.
"""

from __future__ import annotations

import pytest

from tastr_stream.config import SecurityConfig, load_token
from tastr_stream.config.security import endpoint_host, is_loopback_host, require_token_beyond_loopback
from tastr_stream.errors import ConfigError

TOKEN = "s3cret-token-0123456789"


def test_token_from_file_first_line_then_from_the_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\nignored\n")
    assert load_token(SecurityConfig(token_file=str(path)), environ={"TASTR_STREAM_TOKEN": "other-token-abcdefgh"}) == TOKEN
    assert load_token(SecurityConfig(), environ={"TASTR_STREAM_TOKEN": f" {TOKEN} "}) == TOKEN
    assert load_token(SecurityConfig(token_env="MY_TOKEN"), environ={"MY_TOKEN": TOKEN}) == TOKEN
    assert load_token(SecurityConfig(), environ={}) is None


def test_bad_tokens_are_one_line_naming_the_source_never_the_token(tmp_path):
    with pytest.raises(ConfigError, match=r"security.token_file='.*missing': cannot read the token"):
        load_token(SecurityConfig(token_file=str(tmp_path / "missing")), environ={})
    short = tmp_path / "short"
    short.write_text("abc123\n")
    with pytest.raises(ConfigError, match="6 characters; use 16") as err:
        load_token(SecurityConfig(token_file=str(short)), environ={})
    assert "abc123" not in str(err.value)
    with pytest.raises(ConfigError, match="environment variable TASTR_STREAM_TOKEN") as err:
        load_token(SecurityConfig(), environ={"TASTR_STREAM_TOKEN": "tiny-secret"})
    assert "tiny-secret" not in str(err.value)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.9", True), ("localhost", True),
                                            ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("*", False),
                                            ("::", False), ("10.0.0.5", False), ("192.168.1.20", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


def test_a_listener_beyond_loopback_needs_a_token():
    require_token_beyond_loopback("endpoints.http_host", "127.0.0.1", None)
    require_token_beyond_loopback("endpoints.http_host", "0.0.0.0", TOKEN)
    require_token_beyond_loopback("endpoints.lookup", endpoint_host("ipc:///tmp/lookup"), None)   # this box only
    with pytest.raises(ConfigError, match=r"^endpoints.lookup='\*' is reachable beyond this machine"):
        require_token_beyond_loopback("endpoints.lookup", endpoint_host("tcp://*:5702"), None)
    assert endpoint_host("tcp://10.0.0.5:5702") == "10.0.0.5"
    assert endpoint_host("tcp://127.0.0.1;10.0.0.5:5702") == "10.0.0.5"
