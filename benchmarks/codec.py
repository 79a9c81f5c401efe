"""Wire codec cost, side by side in one run: Avro + Glue header vs JSON of the same records.

Measures encode+decode throughput and bytes per event for realistic samples, with and without
zlib, against ``json.dumps``/``json.loads`` (what a schemaless pipeline would put on the wire).
The writer schema is resolved from an in-process registry stub: registry look-ups are cached
by the codec, so the steady state never calls the registry.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from pipelines.contracts.codec import Codec
from pipelines.contracts.samples import generate
from pipelines.contracts.schemas import load_contracts


class _Registry:
    def __init__(self) -> None:
        self.versions = {t: uuid.uuid5(uuid.NAMESPACE_DNS, t) for t in load_contracts()}
        self._by_id = {v: (t, load_contracts()[t].canonical_text) for t, v in self.versions.items()}

    def writer_schema(self, version_id: uuid.UUID) -> tuple[str, str]:
        return self._by_id[version_id]


def _best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(sessions: int = 400, runs: int = 5) -> None:
    samples = generate(sessions, seed=11)
    reg = _Registry()
    plain, zlib_codec = Codec(reg, reg.versions), Codec(reg, reg.versions, compression="zlib")
    n = len(samples)

    def avro_roundtrip(codec: Codec) -> Callable[[], object]:
        return lambda: [codec.decode(codec.encode(s.event_type, s.record, validated=True)) for s in samples]

    def json_roundtrip() -> object:
        return [json.loads(json.dumps({"event_type": s.event_type, **s.record})) for s in samples]

    def validate_all() -> object:
        return [plain.validate(s.event_type, s.record) for s in samples]

    rows = {
        "json dumps+loads": (
            _best_of(runs, json_roundtrip),
            sum(len(json.dumps({"event_type": s.event_type, **s.record})) for s in samples),
        ),
        "avro codec": (
            _best_of(runs, avro_roundtrip(plain)),
            sum(len(plain.encode(s.event_type, s.record)) for s in samples),
        ),
        "avro codec + zlib": (
            _best_of(runs, avro_roundtrip(zlib_codec)),
            sum(len(zlib_codec.encode(s.event_type, s.record)) for s in samples),
        ),
        "schema validation only": (_best_of(runs, validate_all), 0),
    }
    base_t, base_b = rows["json dumps+loads"]
    print(f"codec benchmark: {n} events of {sessions} sessions, best of {runs} runs")
    print(f"{'variant':<24}{'events/s':>12}{'time vs json':>14}{'bytes/event':>13}{'size vs json':>14}")
    for name, (t, b) in rows.items():
        size = f"{b / n:>13.0f}{b / base_b:>14.2f}" if b else f"{'-':>13}{'-':>14}"
        print(f"{name:<24}{n / t:>12,.0f}{t / base_t:>14.2f}{size}")


if __name__ == "__main__":
    main()
