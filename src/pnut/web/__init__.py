"""pnut web: Prometheus metrics, a JSON API, Server-Sent Events and a live page.

See docs/web.md; the data comes from :mod:`pnut.poller`.
"""
