"""The memory layers derived in the background: M1 facts (``m1``) and the M2 graph (``m2``)."""
