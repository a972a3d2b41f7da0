"""``python -m memfuse_server`` is the ``memfuse-server`` command."""

from memfuse_server.entry import main

main()
