"""Core helpers every layer may use: where files live, atomic writes, digests, the process environment."""
