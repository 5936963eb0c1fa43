"""Scrapy spiders: turn platform responses into monitor.Observation records."""
