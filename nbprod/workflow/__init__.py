"""The journey, one module per command: run, expect, serve, review, approve, release (and the Workspace they share)."""
