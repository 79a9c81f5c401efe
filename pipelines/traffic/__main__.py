"""``python -m pipelines.traffic``: send generated sessions to a running collector and print the report.

Secrets come from files or the environment, never from the command line: the redirect signing key
(``--signing-key-file`` or ``AA_TRAFFIC_SIGNING_KEY``) and the networks' postback secrets
(``--network-secrets-file`` with a JSON object ``{network: secret}`` or ``AA_TRAFFIC_NETWORK_SECRETS``).
Exit 0 when every answer was the expected one, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from pipelines.traffic.plan import PROFILES, Keys, Planner
from pipelines.traffic.send import send


def _secrets(args: argparse.Namespace) -> Keys:
    key = None
    if args.signing_key_file:
        key = Path(args.signing_key_file).read_bytes().strip()
    elif os.environ.get("AA_TRAFFIC_SIGNING_KEY"):
        key = os.environ["AA_TRAFFIC_SIGNING_KEY"].encode()
    raw = None
    if args.network_secrets_file:
        raw = Path(args.network_secrets_file).read_text()
        where = str(args.network_secrets_file)
    else:
        raw = os.environ.get("AA_TRAFFIC_NETWORK_SECRETS")
        where = "AA_TRAFFIC_NETWORK_SECRETS"
    networks: dict[str, bytes] = {}
    if raw:
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{where}: expected a JSON object {{network: secret}}: {exc.msg}") from None
        if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
            raise SystemExit(f"{where}: expected a JSON object {{network: secret}} of strings")
        networks = {str(k): v.encode() for k, v in doc.items()}
    return Keys(key, networks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.traffic", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the collector's base URL")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="realistic")
    parser.add_argument("--concurrency", type=int, default=4, help="sessions in flight")
    parser.add_argument("--start-ms", type=int, default=None, help="first session's time (default: now - the span)")
    parser.add_argument("--origin", default=None, help="Origin header for every batch (default: the page's site)")
    parser.add_argument("--signing-key-file", type=Path)
    parser.add_argument("--network-secrets-file", type=Path)
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    start_ms = args.start_ms
    if start_ms is None:  # the sessions end about now
        start_ms = int(time.time() * 1000) - args.sessions * sum(profile.session_gap_ms) // 2 - 600_000
    planner = Planner(profile, seed=args.seed, start_ms=start_ms, keys=_secrets(args), origin=args.origin)

    def progress(sessions: int, seconds: float) -> None:
        print(f"  {sessions} of {args.sessions} sessions sent ({seconds:.1f} s)", file=sys.stderr, flush=True)

    try:
        report = send(planner.sessions(args.sessions), args.url, concurrency=args.concurrency, progress=progress)
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
