from pathlib import Path

import pytest

from memfuse_server.config import load_settings, masked
from memfuse_server.errors import ConfigurationError


def test_defaults_without_any_source() -> None:
    settings = load_settings(environ={})
    assert settings.server.port == 8765
    assert settings.database.url == "sqlite:///./data/memfuse.db"


def test_yaml_then_env_then_alias(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("buffer:\n  max_tokens: 100\nmemory:\n  parallel_enabled: true\n")
    env = {"MEMFUSE_CONFIG": str(cfg), "MEMFUSE_BUFFER__MAX_ROUNDS": "3"}
    settings = load_settings(environ=env)
    assert (settings.buffer.max_tokens, settings.buffer.max_rounds) == (100, 3)
    assert settings.memory.parallel_enabled is True
    env["MEMFUSE_PARALLEL_ENABLED"] = "false"
    assert load_settings(environ=env).memory.parallel_enabled is False


def test_env_wins_over_yaml(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("server:\n  port: 9000\n")
    settings = load_settings(cfg, environ={"MEMFUSE_SERVER__PORT": "9001"})
    assert settings.server.port == 9001


def test_secrets_are_masked() -> None:
    settings = load_settings(environ={"MEMFUSE_EMBEDDING__API_KEY": "sk-secret"})
    shown = str(masked(settings))
    assert "sk-secret" not in shown
    assert settings.embedding.api_key.get_secret_value() == "sk-secret"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MEMFUSE_SERVER__PORT": "not-a-port"}, "port"),
        ({"MEMFUSE_SERVER__NO_SUCH_KEY": "1"}, "no_such_key"),
        ({"MEMFUSE_DATABASE__URL": "mysql://x"}, "sqlite"),
    ],
)
def test_invalid_settings_are_refused_with_the_field_named(
    env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(environ=env)


def test_unreadable_yaml_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("server: [unclosed\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_settings(cfg, environ={})
