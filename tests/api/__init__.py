"""HTTP-level tests of the MemFuse REST API against a real server process."""
