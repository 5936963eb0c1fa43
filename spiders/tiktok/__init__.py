"""TikTok (logged out): the platform package (see platform.py)."""
