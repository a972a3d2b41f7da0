"""Memory tools for agents over the Model Context Protocol (MCP): stdio and ``/mcp``.

``server.py`` builds the server and its two transports; ``tools.py`` holds the tools.
"""
