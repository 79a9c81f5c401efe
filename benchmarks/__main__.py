"""Run every benchmark: ``make bench`` (``uv run python -m benchmarks``)."""

from __future__ import annotations

from benchmarks import codec, collector


def main() -> int:
    codec.main()
    print()
    collector.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
