"""Static export for benchmarks: N single-post responses as files, plus their URLs.

Serve the directory with any static server (nginx: ``root DIR; default_type
application/json;`` for extension-less JSON files) and feed the URL list to
the crawler. Each fake says where its posts go (:meth:`~.fake.Fake.export`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ._script import Planner
from .fake import Fake, fakes

logger = logging.getLogger(__name__)

_PER_OWNER = 50  # posts per owner, which keeps rendering linear


def static_platforms() -> tuple[str, ...]:
    """The platforms whose fake can export static posts."""
    return tuple(name for name, fake in fakes().items() if type(fake).export is not Fake.export)


def export_static(
    directory: str | Path,
    n_posts: int,
    platform: str,
    *,
    base_url: str = "http://127.0.0.1:8080",
    seed: int = 1,
) -> list[str]:
    """Write ``n_posts`` live posts of ``platform`` under ``directory``; return (and
    write to ``urls.txt``) their URLs."""
    known = static_platforms()
    if platform not in known:
        raise ValueError(f"cannot export {platform!r}; choose one of {', '.join(known)}")
    fake = fakes()[platform]
    root = Path(directory)
    base = base_url.rstrip("/")
    planner = Planner(seed, "static", fakes())
    planner.begin_tick()
    owner = ""
    urls: list[str] = []
    for i in range(n_posts):
        if i % _PER_OWNER == 0:
            owner = fake.export_owner(planner, i // _PER_OWNER)
        rel, body, url = fake.export(planner, owner, i, base)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        urls.append(url)
    root.mkdir(parents=True, exist_ok=True)
    (root / "urls.txt").write_text("".join(u + "\n" for u in urls))
    logger.info("exported %d %s posts to %s", len(urls), platform, root)
    return urls
