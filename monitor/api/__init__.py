"""The analyst side over HTTP: a FastAPI app serving the JSON API, its OpenAPI
document and the web interface (:mod:`monitor.web`)."""

from .app import create_app

__all__ = ["create_app"]
