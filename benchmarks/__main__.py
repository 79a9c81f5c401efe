"""Run every benchmark: ``make bench`` (``uv run python -m benchmarks [name ...]``).

Names: codec, collector, streaming, warehouse, tracer. Without names, all run (about 15 minutes
on 2 cores); each prints its own side-by-side comparison; results go into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tracer() -> None:
    """Bundle sizes against peer trackers (fetched with npm pack) and the navigation delay."""
    subprocess.run(["npm", "--prefix", str(REPO / "tracer"), "run", "--silent", "bench"], check=True)


def run(name: str) -> None:
    print(f"\n=== benchmark: {name}", flush=True)
    if name == "tracer":
        tracer()
    elif name == "warehouse":
        importlib.import_module("benchmarks.warehouse").main([])
    elif name == "streaming":
        importlib.import_module("benchmarks.streaming").main(events=100_000, batch=25_000, freshness_seconds=30)
    else:
        importlib.import_module(f"benchmarks.{name}").main()


def main(argv: list[str]) -> int:
    names = argv or ["codec", "collector", "streaming", "warehouse", "tracer"]
    for name in names:
        if name == "warehouse" and not (REPO / "benchmarks" / "warehouse.py").exists():
            print("\n=== benchmark: warehouse — not present yet")
            continue
        run(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
