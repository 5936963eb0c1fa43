"""Bluesky (AT Protocol) (logged out): the platform package (see platform.py)."""
