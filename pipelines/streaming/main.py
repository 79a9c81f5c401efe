"""Entry file for spark-submit / the spark-operator ``SparkApplication`` (``mainApplicationFile``).

    spark-submit --py-files affiliate_analytics-<version>-py3-none-any.whl \\
        pipelines/streaming/main.py run --lake-dir ... --checkpoint-dir ...

Without arguments (the ``SparkApplication`` passes configuration as environment), the lake and
checkpoint come from ``AA_LAKE_DIR`` and ``AA_CHECKPOINT_DIR``; every other setting has its own
``AA_*`` default (see ``pipelines.streaming.config``).
"""

from __future__ import annotations

import os
import sys


def _argv() -> list[str]:
    if len(sys.argv) > 1:
        return sys.argv[1:]
    argv = ["run"]
    for flag, var in (("--lake-dir", "AA_LAKE_DIR"), ("--checkpoint-dir", "AA_CHECKPOINT_DIR")):
        if os.environ.get(var):
            argv += [flag, os.environ[var]]
    return argv


if __name__ == "__main__":
    from pipelines.streaming.__main__ import main

    raise SystemExit(main(_argv()))
