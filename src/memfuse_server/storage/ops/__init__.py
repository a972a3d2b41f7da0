"""Every storage operation, written once for both engines (see ``storage/tx.py``)."""
