"""Telegram public channels (logged out): the platform package (see platform.py)."""
