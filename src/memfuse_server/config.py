"""Settings: one object, built once at start and passed down.

Sources, later wins: defaults, a YAML file (``--config`` or ``MEMFUSE_CONFIG``),
environment variables ``MEMFUSE_<SECTION>__<KEY>`` (``MEMFUSE_DATABASE__URL``),
and the seeds' flat aliases (``MEMFUSE_PARALLEL_ENABLED``). Nothing here reads
the environment at import time: ``load_settings`` is called by the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from memfuse_server.client.settings import ClientSettings
from memfuse_server.errors import ConfigurationError

ENV_PREFIX = "MEMFUSE_"
CONFIG_ENV = "MEMFUSE_CONFIG"
# Flat names the seed documents use, mapped to their place in the tree.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "MEMFUSE_PARALLEL_ENABLED": ("memory", "parallel_enabled"),
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="413 above this")
    max_messages_per_request: int = Field(
        default=1000, ge=1, description="larger batches are refused (413): split them"
    )
    max_in_flight: int = Field(
        default=128, ge=1, description="requests in progress; past it 503 with Retry-After"
    )
    cors_origins: list[str] = Field(default_factory=list, description="CORS is off when empty")
    api_key_validation: bool = Field(
        default=False, description="every route but /health needs `Authorization: Bearer <key>`"
    )
    admin_api_key: SecretStr = Field(
        default=SecretStr(""), description="a key that may act for every user (keep it secret)"
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    graceful_timeout_seconds: float = Field(default=15.0, ge=0)
    keepalive_seconds: int = Field(
        default=30, ge=1, description="an idle HTTP connection stays open this long for reuse"
    )


class DatabaseSettings(_Section):
    url: str = "sqlite:///./data/memfuse.db"
    synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite: FULL survives power loss, NORMAL only process crashes",
    )
    busy_timeout_ms: int = Field(default=5000, ge=0)
    read_connections: int = Field(default=2, ge=1, le=32)
    vector_cache_rows: int = Field(
        default=1_000_000, ge=1000, description="SQLite: vectors kept in memory for search"
    )
    vector_warmup_rows: int = Field(
        default=200_000,
        ge=0,
        description="SQLite: vectors loaded in the background at startup, the users written "
        "to most recently first (0: none; each user's load on their first search otherwise)",
    )
    vector_partition_rows: int = Field(
        default=0,
        ge=0,
        description="SQLite: partition a user's vectors past this many rows (faster, approximate);"
        " 0 keeps search exact",
    )
    pool_size: int = Field(
        default=10, ge=1, le=1000, description="PostgreSQL: connections each process keeps open"
    )
    max_overflow: int = Field(
        default=10, ge=0, le=1000, description="PostgreSQL: extra connections under load"
    )
    acquire_timeout_seconds: float = Field(
        default=10.0, gt=0, description="PostgreSQL: wait this long for a free connection (503)"
    )
    retry_attempts: int = Field(
        default=4, ge=0, le=20, description="PostgreSQL: retries of a dropped connection, then 503"
    )
    retry_backoff_seconds: float = Field(
        default=0.1, ge=0, description="PostgreSQL: first wait before a retry; doubles each time"
    )
    hnsw_ef_search: int = Field(
        default=40, ge=1, le=1000, description="PostgreSQL: pgvector HNSW search breadth"
    )


class StorageSettings(_Section):
    parallel_writes: bool = Field(
        default=True,
        description="write independent stores of one logical write at once (seed 001), each on "
        "its own pooled connection; false: one after another",
    )


class EmbeddingSettings(_Section):
    provider: Literal["local", "openai"] = "local"
    backend: Literal["onnx", "numpy", "torch"] = Field(
        default="onnx", description="local model runtime: onnxruntime, numpy alone, or torch"
    )
    model_path: str = Field(default="", description="folder of a sentence-transformers model")
    precision: Literal["auto", "float32", "int8"] = Field(
        default="auto",
        description="int8 (backend onnx only) quantises the model's weights at start: twice the "
        "throughput, the same LoCoMo recall@10 (docs/benchmarks.md); float32: as trained; "
        "auto: int8 on onnx, float32 on the other backends",
    )
    dimension: int = Field(default=384, ge=1)
    max_batch_size: int = Field(default=32, ge=1, le=1024)
    background_batch_size: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="texts per model call for background work (facts, entities, relations); "
        "a request's texts wait behind at most one such call",
    )
    max_tokens: int = Field(default=256, ge=8, le=512)
    threads: int = Field(
        default_factory=lambda: min(2, os.cpu_count() or 1),
        ge=1,
        le=64,
        description="threads of the local model (default: 2, or 1 on a one-core machine)",
    )
    isolation: Literal["process", "thread"] = Field(
        default="process",
        description="run the local model in a child process (no GIL contention) or a thread",
    )
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: SecretStr = SecretStr("")
    model: str = "all-MiniLM-L6-v2"
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_seconds: float = Field(
        default=0.5,
        ge=0,
        description="first wait before retrying the embedding service; doubles each retry "
        "(a Retry-After header wins)",
    )


class BufferSettings(_Section):
    max_tokens: int = Field(default=800, ge=1, description="close a round window at this size")
    max_rounds: int = Field(default=5, ge=1)
    idle_seconds: float = Field(default=60.0, gt=0, description="close a window idle this long")
    sweep_interval_seconds: float = Field(default=5.0, gt=0)


class QuerySettings(_Section):
    default_top_k: int = Field(default=5, ge=1, le=100)
    max_top_k: int = Field(default=100, ge=1)
    candidates: int = Field(default=50, ge=1, le=1000)
    rrf_k: int = Field(default=60, ge=1)
    vector_weight: float = Field(default=1.0, ge=0)
    text_weight: float = Field(default=0.5, ge=0)
    graph_weight: float = Field(default=0.5, ge=0)
    kind_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "message": 1.0,
            "chunk": 1.0,
            "knowledge": 1.0,
            "fact": 0.6,
            "relation": 0.4,
            "entity": 0.3,
        },
        description="vector-list weight per item kind, times vector_weight (a kind not named: 1)",
    )
    cache_size: int = Field(default=2048, ge=0)
    cache_ttl_seconds: float = Field(default=300.0, ge=0)


class MemorySettings(_Section):
    parallel_enabled: bool = Field(
        default=True, description="M1 and M2 of an episode at once (asyncio.gather) or M1 then M2"
    )


class WorkerSettings(_Section):
    enabled: bool = Field(default=True, description="run the worker inside `serve`")
    concurrency: int = Field(default=4, ge=1, le=256, description="episodes in flight per worker")
    throttle: bool = Field(
        default=True,
        description="the background gives way to requests: fewer jobs at once while their "
        "latency is above throttle_target_ms, back to `concurrency` when it falls",
    )
    throttle_target_ms: float = Field(
        default=50.0, gt=0, description="p95 of request latency above which the worker slows"
    )
    throttle_interval_seconds: float = Field(
        default=1.0, gt=0, description="how often the worker's concurrency is adjusted"
    )
    throttle_max_pause_seconds: float = Field(
        default=1.0,
        ge=0,
        description="at one job at a time, the longest pause between jobs (the queue still drains)",
    )
    nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU niceness of a standalone worker (`memfuse-server worker`), whose "
        "throttle sees no requests: beside API processes the OS gives them the cores first",
    )
    max_attempts: int = Field(default=5, ge=1, description="then the job goes to the dead letters")
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    lease_seconds: float = Field(
        default=60.0, gt=0, description="a claimed job not renewed this long is taken again"
    )
    poll_interval_seconds: float = Field(default=0.5, gt=0)
    keep_done_seconds: float = Field(
        default=86400.0, ge=0, description="finished jobs kept for stats"
    )


class LLMSettings(_Section):
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "gpt-4o-mini"
    api_key: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_seconds: float = Field(
        default=0.5,
        ge=0,
        description="first wait before retrying the extraction model; doubles each retry "
        "(a Retry-After header wins)",
    )
    max_concurrency: int = Field(default=4, ge=1, description="LLM calls in flight at once")
    temperature: float = Field(default=0.0, ge=0, le=2)


class ExtractionSettings(_Section):
    provider: Literal["rules", "llm"] = "rules"
    llm: LLMSettings = Field(default_factory=LLMSettings)


class Settings(BaseSettings):
    """The whole configuration of one server process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    buffer: BufferSettings = Field(default_factory=BufferSettings)
    query: QuerySettings = Field(default_factory=QuerySettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    extraction: ExtractionSettings = Field(default_factory=ExtractionSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    client: ClientSettings = Field(default_factory=ClientSettings)

    @field_validator("database")
    @classmethod
    def _known_scheme(cls, value: DatabaseSettings) -> DatabaseSettings:
        if not value.url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "database.url must start with sqlite:/// (e.g. sqlite:///./data/memfuse.db)"
                " or postgresql:// (e.g. postgresql://memfuse:secret@db:5432/memfuse)"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment is handed in by load_settings (as init kwargs merged
        # over the YAML), so the only source here is the init one.
        return (init_settings,)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"Cannot read the config file {path}: {exc.strerror}.") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"The config file {path} is not valid YAML: {exc}.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"The config file {path} must hold a mapping of sections.")
    return data


def _env_tree(environ: Mapping[str, str]) -> dict[str, Any]:
    """Environment variables as a nested mapping, aliases applied."""
    source = EnvSettingsSource(
        Settings, case_sensitive=False, env_prefix=ENV_PREFIX, env_nested_delimiter="__"
    )
    source.env_vars = {k.lower(): v for k, v in environ.items()}
    tree: dict[str, Any] = source()
    for name, (section, key) in ENV_ALIASES.items():
        if name in environ:
            tree.setdefault(section, {})[key] = environ[name]
    return tree


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def load_settings(
    config_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from a YAML file, the environment and explicit overrides."""
    env = dict(os.environ if environ is None else environ)
    path = config_path or env.get(CONFIG_ENV)
    tree = _read_yaml(Path(path)) if path else {}
    tree = _merge(tree, _env_tree(env))
    tree = _merge(tree, overrides or {})
    try:
        return Settings(**tree)
    except ValidationError as exc:
        raise ConfigurationError(f"Invalid settings: {_one_line(exc)}") from exc


def _one_line(exc: ValidationError) -> str:
    """Each problem as ``field: message``, without the values (a URL may hold a password)."""
    problems = exc.errors(include_input=False, include_url=False, include_context=False)
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in problems
    )


def masked(settings: Settings) -> dict[str, Any]:
    """The effective settings as plain data, secrets replaced by asterisks."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    for section, secret in (
        (data["server"], settings.server.admin_api_key),
        (data["embedding"], settings.embedding.api_key),
        (data["extraction"]["llm"], settings.extraction.llm.api_key),
        (data["client"], settings.client.api_key),
    ):
        name = "admin_api_key" if section is data["server"] else "api_key"
        section[name] = "********" if secret.get_secret_value() else ""
    url = settings.database.url
    data["database"]["url"] = mask_url(url)
    return data


def mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:********@{host}"


__all__ = ["ClientSettings", "Settings", "load_settings", "mask_url", "masked"]
