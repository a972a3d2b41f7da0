"""``AsyncClient``: the MemFuse API as typed async methods, plus bulk insertion.

::

    async with AsyncClient("http://127.0.0.1:8765") as client:
        user = await client.get_or_create_user("alice")
        agent = await client.get_or_create_agent("assistant")
        session = await client.get_or_create_session(user.id, agent.id, "trip")
        await client.add_messages(session.id, [{"role": "user", "content": "I fly on May 3rd."}])
        hits = await client.query(user.id, "When does Alice fly?")

Settings come from a ``ClientSettings`` (the ``client`` section of the server's settings:
YAML or ``MEMFUSE_CLIENT__*``); explicit arguments win.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from memfuse_server.client.bulk import (
    BulkItem,
    BulkOptions,
    BulkResult,
    OnResult,
    PreparedItem,
    message_json,
    prepare,
    run_bulk,
)
from memfuse_server.client.closing import AsyncClosing
from memfuse_server.client.core import Core, Request
from memfuse_server.client.errors import NotFoundError
from memfuse_server.client.metrics import InsertionMetrics, MetricsRecorder
from memfuse_server.client.models import (
    ChatMessage,
    EntityNeighbourhood,
    Health,
    Knowledge,
    MemoryItem,
    Message,
    QueryResult,
    Session,
    Stats,
)
from memfuse_server.client.named import Named
from memfuse_server.client.settings import ClientSettings
from memfuse_server.client.transport import Transport

M = TypeVar("M", bound=BaseModel)
MessageLike = ChatMessage | Mapping[str, Any]


def _many(model: type[M], rows: Any) -> list[M]:
    return [model.model_validate(r) for r in rows]


def client_settings(
    settings: ClientSettings | None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> ClientSettings:
    """``settings`` (or the defaults) with the explicitly given values put over them."""
    given = {"base_url": base_url, "timeout_seconds": timeout, "max_retries": max_retries}
    updates: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if api_key is not None:
        updates["api_key"] = SecretStr(api_key)
    base = settings or ClientSettings()
    # exclude_unset: what was configured stays told apart from defaults (model_fields_set)
    return (
        ClientSettings.model_validate({**base.model_dump(exclude_unset=True), **updates})
        if updates
        else base
    )


class AsyncClient(Named, AsyncClosing):
    """The MemFuse API over HTTP (``AiohttpTransport``, or any httpx transport); ``async with`` it or
    ``await aclose()``."""

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
        self.settings = client_settings(settings, base_url, api_key, timeout, max_retries)
        self._core = Core(self.settings, transport=transport)
        self._metrics = MetricsRecorder()

    @property
    def base_url(self) -> str:
        return self._core.base_url

    async def aclose(self) -> None:
        await self._core.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self._core.request(Request(method, path, **kwargs))

    async def health(self) -> Health:
        return Health.model_validate(await self._call("GET", "/health", idempotent=True))

    async def stats(self) -> Stats:
        """Queue depth, layer timings, caches and the embedder (``GET /stats``)."""
        return Stats.model_validate(await self._call("GET", "/stats", idempotent=True))

    # sessions
    async def list_sessions(
        self, user_id: str | None = None, agent_id: str | None = None, name: str | None = None
    ) -> list[Session]:
        """Sessions, filtered; a ``name`` that matches none raises ``NotFoundError``."""
        params = {"user_id": user_id, "agent_id": agent_id, "name": name}
        data = await self._call("GET", "/sessions", params=params, idempotent=True)
        return _many(Session, data["sessions"])

    async def find_session(self, user_id: str, name: str) -> Session | None:
        """The user's session of this name, or None."""
        try:
            found = await self.list_sessions(user_id=user_id, name=name)
        except NotFoundError:
            return None
        return found[0] if found else None

    async def create_session(self, user_id: str, agent_id: str, name: str | None = None) -> Session:
        """A new session (a name taken for this user: ``ConflictError``; None: generated)."""
        body = {"user_id": user_id, "agent_id": agent_id, "name": name}
        return Session.model_validate((await self._call("POST", "/sessions", body=body))["session"])

    async def get_or_create_session(self, user_id: str, agent_id: str, name: str) -> Session:
        """The user's session named ``name``, created (with ``agent_id``) if there is none."""
        return await self._get_or_create(
            lambda: self.find_session(user_id, name),
            lambda: self.create_session(user_id, agent_id, name),
        )

    async def get_session(self, session_id: str) -> Session:
        data = await self._call("GET", f"/sessions/{session_id}", idempotent=True)
        return Session.model_validate(data["session"])

    async def update_session(self, session_id: str, name: str) -> Session:
        data = await self._call(
            "PUT", f"/sessions/{session_id}", body={"name": name}, idempotent=True
        )
        return Session.model_validate(data["session"])

    async def flush_session(self, session_id: str) -> str | None:
        """Close the session's open round window now, so its last episode is derived at once
        (an import's session has ended); the episode's id, or None when the window was empty."""
        data = await self._call("POST", f"/sessions/{session_id}/flush", idempotent=True)
        return None if data["episode_id"] is None else str(data["episode_id"])

    async def delete_session(self, session_id: str) -> str:
        """Delete a session, its messages and what was derived from them."""
        data = await self._call("DELETE", f"/sessions/{session_id}", idempotent=True)
        return str(data["session_id"])

    # messages
    async def add_messages(
        self,
        session_id: str,
        messages: Sequence[MessageLike],
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Add messages (answered once durable); their ids in input order.

        The request always carries an ``Idempotency-Key`` (a random one when none is given), so
        a retry after a lost answer never adds the messages twice; give your own key to make a
        re-run of the same call add nothing either.
        """
        body = {"messages": [message_json(m) for m in messages]}
        key = idempotency_key or f"client-{uuid.uuid4().hex}"
        item = PreparedItem(0, session_id, body, key)
        return await self._send_item(item)

    async def _send_item(self, item: PreparedItem) -> list[str]:
        data = await self._call(
            "POST",
            f"/sessions/{item.session_id}/messages",
            body=item.body,
            headers={"Idempotency-Key": item.idempotency_key},
            idempotent=True,
        )
        return [str(i) for i in data["message_ids"]]

    async def list_messages(
        self,
        session_id: str,
        limit: int = 20,
        order: Literal["asc", "desc"] = "desc",
        buffer_only: bool | None = None,
    ) -> list[Message]:
        """Messages by time; ``buffer_only`` True: the open round window, False: handed on."""
        params = {"limit": limit, "order": order, "buffer_only": buffer_only}
        path = f"/sessions/{session_id}/messages"
        data = await self._call("GET", path, params=params, idempotent=True)
        return _many(Message, data["messages"])

    async def read_messages(self, session_id: str, message_ids: Sequence[str]) -> list[Message]:
        path = f"/sessions/{session_id}/messages/read"
        body = {"message_ids": list(message_ids)}
        data = await self._call("POST", path, body=body, idempotent=True)
        return _many(Message, data["messages"])

    async def update_messages(
        self, session_id: str, message_ids: Sequence[str], new_messages: Sequence[MessageLike]
    ) -> list[str]:
        """Replace messages (paired by position); what was derived from them is re-derived."""
        body = {
            "message_ids": list(message_ids),
            "new_messages": [message_json(m) for m in new_messages],
        }
        path = f"/sessions/{session_id}/messages"
        data = await self._call("PUT", path, body=body, idempotent=True)
        return [str(i) for i in data["message_ids"]]

    async def delete_messages(self, session_id: str, message_ids: Sequence[str]) -> list[str]:
        body = {"message_ids": list(message_ids)}
        path = f"/sessions/{session_id}/messages"
        data = await self._call("DELETE", path, body=body, idempotent=True)
        return [str(i) for i in data["message_ids"]]

    # knowledge
    async def list_knowledge(self, user_id: str) -> list[Knowledge]:
        data = await self._call("GET", f"/users/{user_id}/knowledge", idempotent=True)
        return _many(Knowledge, data["knowledge"])

    async def add_knowledge(self, user_id: str, knowledge: Sequence[str]) -> list[str]:
        """Add statements about the user (embedded, found by ``query``); their ids."""
        body = {"knowledge": list(knowledge)}
        data = await self._call("POST", f"/users/{user_id}/knowledge", body=body)
        return [str(i) for i in data["knowledge_ids"]]

    async def read_knowledge(self, user_id: str, knowledge_ids: Sequence[str]) -> list[Knowledge]:
        path = f"/users/{user_id}/knowledge/read"
        body = {"knowledge_ids": list(knowledge_ids)}
        return _many(
            Knowledge, (await self._call("POST", path, body=body, idempotent=True))["knowledge"]
        )

    async def update_knowledge(
        self, user_id: str, knowledge_ids: Sequence[str], new_knowledge: Sequence[str]
    ) -> list[str]:
        body = {"knowledge_ids": list(knowledge_ids), "new_knowledge": list(new_knowledge)}
        path = f"/users/{user_id}/knowledge"
        data = await self._call("PUT", path, body=body, idempotent=True)
        return [str(i) for i in data["knowledge_ids"]]

    async def delete_knowledge(self, user_id: str, knowledge_ids: Sequence[str]) -> list[str]:
        body = {"knowledge_ids": list(knowledge_ids)}
        path = f"/users/{user_id}/knowledge"
        data = await self._call("DELETE", path, body=body, idempotent=True)
        return [str(i) for i in data["knowledge_ids"]]

    # query and the derived layers
    async def query(
        self,
        user_id: str,
        query: str,
        top_k: int = 5,
        session_id: str | None = None,
        agent_id: str | None = None,
    ) -> list[QueryResult]:
        """The user's most relevant memories across layers, best first."""
        body = {"query": query, "top_k": top_k, "session_id": session_id, "agent_id": agent_id}
        path = f"/users/{user_id}/query"
        data = await self._call("POST", path, body=body, idempotent=True)
        return _many(QueryResult, data["results"])

    async def _items(self, user_id: str, kind: str, limit: int, offset: int) -> list[MemoryItem]:
        params = {"limit": limit, "offset": offset}
        data = await self._call("GET", f"/users/{user_id}/{kind}", params=params, idempotent=True)
        return _many(MemoryItem, data[kind])

    async def list_facts(self, user_id: str, limit: int = 50, offset: int = 0) -> list[MemoryItem]:
        """The user's M1 facts, newest first."""
        return await self._items(user_id, "facts", limit, offset)

    async def list_entities(
        self, user_id: str, limit: int = 50, offset: int = 0
    ) -> list[MemoryItem]:
        """The user's M2 entities, newest first."""
        return await self._items(user_id, "entities", limit, offset)

    async def list_relations(
        self, user_id: str, limit: int = 50, offset: int = 0
    ) -> list[MemoryItem]:
        """The user's M2 relations, newest first."""
        return await self._items(user_id, "relations", limit, offset)

    async def get_entity(
        self, user_id: str, entity_id: str, limit: int = 50
    ) -> EntityNeighbourhood:
        """An entity with its relations and facts."""
        path = f"/users/{user_id}/entities/{entity_id}"
        data = await self._call("GET", path, params={"limit": limit}, idempotent=True)
        return EntityNeighbourhood.model_validate(data)

    # bulk insertion
    async def bulk_add(
        self,
        items: Sequence[BulkItem | Mapping[str, Any]],
        max_concurrency: int | None = None,
        item_timeout: float | None = None,
        adaptive: bool | None = None,
        *,
        in_session_order: bool = False,
        on_result: OnResult | None = None,
    ) -> BulkResult:
        """Add many items at once; never raises an item's failure (see ``BulkResult.failed``).

        ``max_concurrency`` (1-50; default ``client.max_concurrency``, 10) bounds the requests
        in flight; with ``adaptive`` AIMD picks the limit up to it. ``item_timeout`` (default
        30 s) bounds one item, retries included. Every item carries an idempotency key (its own,
        or one derived from its position, session and messages), so the same call again adds
        nothing. ``in_session_order`` sends a session's items one after another, in order; after
        a failure that may pass (unreachable, timeout, 429, 5xx) the rest of that session is
        held back (``NotSent``) and the same call again fills the gap in order.
        ``on_result`` is called as each item ends (for progress). Raises ``InvalidArgument``
        for a bad argument, before anything is sent.
        """
        defaults = self.settings
        options = BulkOptions(
            max_concurrency=defaults.max_concurrency
            if max_concurrency is None
            else max_concurrency,
            item_timeout=defaults.item_timeout_seconds if item_timeout is None else item_timeout,
            adaptive=defaults.adaptive if adaptive is None else adaptive,
            in_session_order=in_session_order,
        )
        # Metrics count a cancelled call's finished items too (on_end runs either way).
        return await run_bulk(
            prepare(items), self._send_item, options, on_result, self._metrics.record
        )

    def get_insertion_metrics(self) -> InsertionMetrics:
        """Totals of every ``bulk_add`` since the client was made or ``reset_metrics()``."""
        return self._metrics.snapshot()

    def reset_metrics(self) -> None:
        self._metrics.reset()


__all__ = ["AsyncClient", "client_settings"]
