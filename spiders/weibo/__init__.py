"""Sina Weibo (m.weibo.cn), logged out with a visitor cookie: account timelines and posts."""
