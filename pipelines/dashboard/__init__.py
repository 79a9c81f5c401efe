"""The dashboard: a real-time view of Redis metrics pushed over Server-Sent Events and a
self-service explorer over the ``self_service.explorer_daily`` mart (see docs/DASHBOARD.md).

Modules: ``config`` (validated settings), ``realtime`` (Redis snapshot: pure reads, no writes),
``explorer`` (allow-list, parameter validation, SQL built from the allow-list only, warehouse
backends), ``app`` (raw ASGI routes), ``__main__`` (uvicorn entry point).
"""
