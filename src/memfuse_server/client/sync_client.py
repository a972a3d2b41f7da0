"""``Client``: the blocking twin of ``AsyncClient``, with no logic of its own.

A ``Client`` owns an ``AsyncClient`` and a private event loop on a daemon thread; each method
runs the ``AsyncClient`` method of the same name there and waits for it. So requests, retries,
parsing and bulk insertion are the async code itself, and a ``Client`` works anywhere, inside a
running event loop (a notebook) included. Ctrl-C while waiting cancels the call.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from memfuse_server.client.async_client import AsyncClient
from memfuse_server.client.metrics import InsertionMetrics
from memfuse_server.client.settings import ClientSettings
from memfuse_server.client.transport import Transport

P = ParamSpec("P")
T = TypeVar("T")


class _LoopThread:
    """An event loop running forever on its own daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="memfuse-client-loop", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C (or any interruption) stops the coroutine too
            raise

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Client, P], T]:
    """A ``Client`` method that runs ``AsyncClient``'s ``method`` and returns its result."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._thread.run(method(self._async, *args, **kwargs))

    functools.update_wrapper(call, method)
    return call


class Client:
    """The MemFuse API, blocking; use ``with`` or ``close()``. Arguments as ``AsyncClient``."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        settings: ClientSettings | None = None,
        transport: Transport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._async = AsyncClient(
            base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            settings=settings,
            transport=transport,
        )
        self._thread = _LoopThread()

    @property
    def settings(self) -> ClientSettings:
        return self._async.settings

    @property
    def base_url(self) -> str:
        return self._async.base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._thread.loop.is_closed():
            self._thread.run(self._async.aclose())
            self._thread.stop()

    def get_insertion_metrics(self) -> InsertionMetrics:
        return self._async.get_insertion_metrics()

    def reset_metrics(self) -> None:
        self._async.reset_metrics()

    health = _blocking(AsyncClient.health)
    stats = _blocking(AsyncClient.stats)

    list_users = _blocking(AsyncClient.list_users)
    find_user = _blocking(AsyncClient.find_user)
    create_user = _blocking(AsyncClient.create_user)
    get_or_create_user = _blocking(AsyncClient.get_or_create_user)
    get_user = _blocking(AsyncClient.get_user)
    update_user = _blocking(AsyncClient.update_user)
    delete_user = _blocking(AsyncClient.delete_user)

    list_agents = _blocking(AsyncClient.list_agents)
    find_agent = _blocking(AsyncClient.find_agent)
    create_agent = _blocking(AsyncClient.create_agent)
    get_or_create_agent = _blocking(AsyncClient.get_or_create_agent)
    get_agent = _blocking(AsyncClient.get_agent)
    update_agent = _blocking(AsyncClient.update_agent)
    delete_agent = _blocking(AsyncClient.delete_agent)

    list_sessions = _blocking(AsyncClient.list_sessions)
    find_session = _blocking(AsyncClient.find_session)
    create_session = _blocking(AsyncClient.create_session)
    get_or_create_session = _blocking(AsyncClient.get_or_create_session)
    get_session = _blocking(AsyncClient.get_session)
    update_session = _blocking(AsyncClient.update_session)
    delete_session = _blocking(AsyncClient.delete_session)
    flush_session = _blocking(AsyncClient.flush_session)

    add_messages = _blocking(AsyncClient.add_messages)
    list_messages = _blocking(AsyncClient.list_messages)
    read_messages = _blocking(AsyncClient.read_messages)
    update_messages = _blocking(AsyncClient.update_messages)
    delete_messages = _blocking(AsyncClient.delete_messages)

    list_knowledge = _blocking(AsyncClient.list_knowledge)
    add_knowledge = _blocking(AsyncClient.add_knowledge)
    read_knowledge = _blocking(AsyncClient.read_knowledge)
    update_knowledge = _blocking(AsyncClient.update_knowledge)
    delete_knowledge = _blocking(AsyncClient.delete_knowledge)

    query = _blocking(AsyncClient.query)
    list_facts = _blocking(AsyncClient.list_facts)
    list_entities = _blocking(AsyncClient.list_entities)
    list_relations = _blocking(AsyncClient.list_relations)
    get_entity = _blocking(AsyncClient.get_entity)

    bulk_add = _blocking(AsyncClient.bulk_add)


__all__ = ["Client"]
