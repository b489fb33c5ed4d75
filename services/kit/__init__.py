"""The shared kernel: settings, database, auth, problems, pages, feed, idempotency, HTTP clients.

It holds no domain words and never imports a service.
"""
