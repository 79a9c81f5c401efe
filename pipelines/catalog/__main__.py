"""Catalog ingestion: prepare the repository's metadata, then run the DataHub recipes in ``catalog/recipes``.

    python -m pipelines.catalog prepare --out .local/catalog [--stack dev] [--dbt-target local] [--no-catalog]
    python -m pipelines.catalog ingest --out .local/catalog --sink file [--recipe event_types --recipe dbt]

``prepare`` writes ``<out>/event_types.json`` (the Kafka topics with their Avro schemas, PII tags and
owner, from ``schemas/``; see ``pipelines.catalog.metadata``) and dbt's ``manifest.json`` and
``catalog.json`` into ``<out>/dbt`` (``dbt docs generate`` on the given target; ``dbt parse`` and no
catalog with ``--no-catalog``, where there is no warehouse to read column types from). ``ingest`` runs each
recipe with DataHub's CLI, pinned and isolated from the project's lock (``uv tool run --from
acryl-datahub[dbt]==<DATAHUB_VERSION>``; ``--datahub datahub`` where the CLI is installed, as in the
cloud CronJob's image). The recipes carry no sink: in the cloud DataHub's CLI sends to its REST
endpoint (``DATAHUB_GMS_URL``, ``DATAHUB_GMS_TOKEN``); ``--sink file`` adds a file sink writing
``<out>/out/<recipe>.json`` (local runs and tests).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pipelines.catalog.metadata import event_type_mcps, write
from pipelines.logs import JsonLogger

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "catalog" / "recipes"
DATAHUB_VERSION = "1.7.0.17"
DATAHUB_FROM = f"acryl-datahub[dbt,snowflake]=={DATAHUB_VERSION}"
LOCAL_RECIPES = ("event_types", "dbt")  # snowflake.yml needs a Snowflake account
log = JsonLogger("catalog")


class CatalogError(RuntimeError):
    pass


def platform_owner(stack: str) -> str:
    """The owner of the platform's data: ``AA_CATALOG_OWNER``, else the stack's ``tags.owner``."""
    if os.environ.get("AA_CATALOG_OWNER"):
        return os.environ["AA_CATALOG_OWNER"]
    path = REPO / f"Pulumi.{stack}.yaml"
    try:
        owner = yaml.safe_load(path.read_text(encoding="utf-8"))["config"]["affiliate-analytics:tags"]["owner"]
    except (OSError, KeyError, TypeError) as exc:
        raise CatalogError(
            f"{path.name}: affiliate-analytics:tags.owner is missing ({exc}); or set AA_CATALOG_OWNER"
        ) from exc
    return str(owner)


def prepare(out: Path, stack: str, dbt_target: str, no_catalog: bool, env_name: str = "PROD") -> None:
    started = time.monotonic()
    path = write(out / "event_types.json", event_type_mcps(platform_owner(stack), env_name))
    log.log("event types written", path=str(path))
    # Without a warehouse (`--no-catalog`) `dbt parse` writes the manifest alone: descriptions, owners,
    # tests and lineage all come from it; the catalog only adds column types.
    verb = ["parse"] if no_catalog else ["docs", "generate"]
    cmd = [
        str(Path(sys.executable).parent / "dbt"), *verb, "--project-dir", str(REPO / "dbt"),
        "--profiles-dir", str(REPO / "dbt"), "--target", dbt_target, "--target-path", str(out / "dbt"),
        "--log-path", str(out / "dbt-logs"),
    ]  # fmt: skip
    env = {**os.environ}
    if dbt_target == "local":
        env.setdefault("AA_WAREHOUSE_PATH", str(out / "warehouse.duckdb"))
        env.setdefault("AA_LAKE_DIR", str(out / "lake"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CatalogError(f"dbt docs generate failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    log.log("dbt artifacts written", dir=str(out / "dbt"), seconds=round(time.monotonic() - started, 1))


def recipe_for(name: str, out: Path, sink: str) -> Path:
    """The recipe as DataHub runs it: as checked in, plus a file sink when ``sink == 'file'``."""
    source = RECIPES / f"{name}.yml"
    if not source.is_file():
        known = sorted(p.stem for p in RECIPES.glob("*.yml"))
        raise CatalogError(f"no recipe {name!r} in {RECIPES.relative_to(REPO)}; known: {', '.join(known)}")
    if sink == "rest":
        return source
    recipe = yaml.safe_load(source.read_text(encoding="utf-8"))
    config = recipe["source"]["config"]
    if recipe["source"]["type"] == "dbt" and not (out / "dbt" / "catalog.json").is_file():
        config.pop("catalog_path", None)  # prepared with --no-catalog
    recipe["sink"] = {"type": "file", "config": {"filename": str(out / "out" / f"{name}.json")}}
    target = out / "recipes" / f"{name}.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    (out / "out").mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return target


def ingest(out: Path, recipes: list[str], sink: str, datahub: list[str]) -> None:
    env = {**os.environ, "AA_CATALOG_DIR": str(out.resolve())}
    for name in recipes:
        started = time.monotonic()
        recipe = recipe_for(name, out, sink)
        done = subprocess.run(
            [*datahub, "ingest", "-c", str(recipe)], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise CatalogError(f"datahub ingest {name} failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
        log.log("recipe ingested", recipe=name, sink=sink, seconds=round(time.monotonic() - started, 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.catalog", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="write the event types' metadata and dbt's manifest and catalog")
    prep.add_argument("--out", type=Path, required=True)
    prep.add_argument("--stack", choices=["dev", "prod"], default="dev", help="whose tags.owner owns the event types")
    prep.add_argument("--dbt-target", choices=["local", "fakesnow", "dev", "prod"], default="local")
    prep.add_argument("--no-catalog", action="store_true", help="no warehouse: dbt's manifest only (dbt parse)")
    prep.add_argument("--env", default="PROD", help="DataHub environment of the datasets (FabricType)")
    ing = sub.add_parser("ingest", help="run the recipes with DataHub's CLI")
    ing.add_argument("--out", type=Path, required=True)
    ing.add_argument("--recipe", action="append", help=f"recipe name (default: {', '.join(LOCAL_RECIPES)})")
    ing.add_argument("--sink", choices=["file", "rest"], default="file")
    ing.add_argument(
        "--datahub",
        default=f"uv tool run --from {DATAHUB_FROM} datahub",
        help="how to run DataHub's CLI (default: pinned and isolated through uv)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare(args.out, args.stack, args.dbt_target, args.no_catalog, args.env)
        else:
            ingest(args.out, args.recipe or list(LOCAL_RECIPES), args.sink, shlex.split(args.datahub))
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
