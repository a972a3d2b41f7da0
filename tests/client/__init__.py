"""Tests of memfuse_server.client, bulk insertion and `memfuse-server import`."""
