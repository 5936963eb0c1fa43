"""The web interface: server-rendered pages over the same stores as the API."""
