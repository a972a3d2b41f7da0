"""memfuse-server's own Python client: ``AsyncClient`` and ``Client`` (one implementation).

::

    from memfuse_server.client import AsyncClient, BulkItem

    async with AsyncClient("http://127.0.0.1:8765") as client:
        result = await client.bulk_add(
            [BulkItem(session_id, [{"role": "user", "content": text}]) for text in texts],
            max_concurrency=10,
        )
        print(result.failed, client.get_insertion_metrics())

Layout: ``core`` (requests, retries, the envelope), ``transport`` (the HTTP seam, its failures,
and any httpx transport behind it), ``aiohttp_transport`` (the default transport: aiohttp, with
proxies and TLS from ``settings``), ``async_client`` and ``named`` (the API as methods),
``sync_client`` (the blocking twin), ``bulk`` / ``adaptive`` / ``metrics`` (bulk insertion),
``models`` (typed results), ``errors`` (the exception tree), ``closing`` (``async with``),
``settings`` (``ClientSettings``). Importing it imports nothing of the server.
"""

from memfuse_server.client.aiohttp_transport import AiohttpTransport
from memfuse_server.client.async_client import AsyncClient
from memfuse_server.client.bulk import MAX_CONCURRENCY, BulkItem, BulkResult, ItemResult
from memfuse_server.client.errors import (
    APIError,
    AuthenticationError,
    ConflictError,
    ConnectionFailed,
    InvalidArgument,
    InvalidRequestError,
    InvalidResponse,
    MemFuseClientError,
    NotFoundError,
    NotSent,
    RateLimitedError,
    RequestTimeout,
    ServerError,
)
from memfuse_server.client.metrics import InsertionMetrics
from memfuse_server.client.models import (
    Agent,
    ChatMessage,
    EntityNeighbourhood,
    Health,
    Knowledge,
    MemoryItem,
    Message,
    QueryResult,
    Session,
    Stats,
    User,
)
from memfuse_server.client.settings import ClientSettings
from memfuse_server.client.sync_client import Client
from memfuse_server.client.transport import HttpxTransport, Transport

__all__ = [
    "MAX_CONCURRENCY",
    "APIError",
    "Agent",
    "AiohttpTransport",
    "AsyncClient",
    "AuthenticationError",
    "BulkItem",
    "BulkResult",
    "ChatMessage",
    "Client",
    "ClientSettings",
    "ConflictError",
    "ConnectionFailed",
    "EntityNeighbourhood",
    "Health",
    "HttpxTransport",
    "InsertionMetrics",
    "InvalidArgument",
    "InvalidRequestError",
    "InvalidResponse",
    "ItemResult",
    "Knowledge",
    "MemFuseClientError",
    "MemoryItem",
    "Message",
    "NotFoundError",
    "NotSent",
    "QueryResult",
    "RateLimitedError",
    "RequestTimeout",
    "ServerError",
    "Session",
    "Stats",
    "Transport",
    "User",
]
