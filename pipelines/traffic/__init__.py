"""Seeded, reproducible site traffic for the collector: ``make demo``, tests and load tests.

``plan`` builds the HTTP calls of realistic visitor sessions with their expected answers;
``send`` sends them to a running collector and reports what was sent and what was answered.
CLI: ``python -m pipelines.traffic --url http://127.0.0.1:8080 --sessions 200``.
"""

from pipelines.traffic.plan import PROFILES, Call, Keys, Planner, Profile, expected_records, site_origin, to_wire
from pipelines.traffic.send import Report, send

__all__ = [
    "PROFILES",
    "Call",
    "Keys",
    "Planner",
    "Profile",
    "Report",
    "expected_records",
    "send",
    "site_origin",
    "to_wire",
]
