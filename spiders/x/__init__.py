"""X (Twitter) (logged out): the platform package (see platform.py)."""
