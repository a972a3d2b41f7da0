"""The memory layers derived in the background: M1 facts (``m1``) and the M2 graph (``m2``).

They run in the worker, so the ``Embedder`` they are given is the batcher's background view
(``build_background`` passes ``MicroBatcher.background``): their texts wait for the requests'.
"""
