"""``python -m memfuse_server`` is the ``memfuse-server`` command."""

from memfuse_server.cli import main

main()
