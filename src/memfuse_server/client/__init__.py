"""memfuse-server's own Python client: ``AsyncClient`` and ``Client`` (one implementation).

::

    from memfuse_server.client import AsyncClient, BulkItem

    async with AsyncClient("http://127.0.0.1:8765") as client:
        result = await client.bulk_add(
            [BulkItem(session_id, [{"role": "user", "content": text}]) for text in texts],
            max_concurrency=10,
        )
        print(result.failed, client.get_insertion_metrics())

Layout: ``core`` (requests, retries, the envelope), ``transport`` (the HTTP seam, and any httpx
transport behind it), ``http1`` and ``connection`` (the default transport: pooled HTTP/1.1
connections, answers parsed by httptools), ``async_client`` and ``named`` (the API as methods),
``sync_client`` (the blocking twin), ``bulk`` / ``adaptive`` / ``metrics`` (bulk insertion),
``models`` (typed results), ``errors`` (the exception tree), ``closing`` (``async with``).
"""

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
from memfuse_server.client.http1 import Http1Transport
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
from memfuse_server.client.sync_client import Client
from memfuse_server.client.transport import HttpxTransport, Transport

__all__ = [
    "MAX_CONCURRENCY",
    "APIError",
    "Agent",
    "AsyncClient",
    "AuthenticationError",
    "BulkItem",
    "BulkResult",
    "ChatMessage",
    "Client",
    "ConflictError",
    "ConnectionFailed",
    "EntityNeighbourhood",
    "Health",
    "Http1Transport",
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
