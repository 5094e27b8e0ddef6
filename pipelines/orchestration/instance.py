"""The Dagster instance the CLI records its runs in: the one `dagster dev` and `make ui` show.

Each warehouse has its own (#28): a folder under DAGSTER_HOME, `warehouses/<file>-<hash of its path>/`, that
links to DAGSTER_HOME's dagster.yaml (its settings and queue limits) and holds its own storage, so a failed run
on one warehouse never paints another's assets red (materialisations and checks are per asset key). A storage
that dagster.yaml puts elsewhere (PostgreSQL, deploy/postgres/) stays one for all warehouses.

Its dagster.yaml must keep the one-writer-per-warehouse limit (a queue with a concurrency limit on
the `amazon-orders/warehouse` tag): a home without it, or with a file that does not load, is
refused with one line rather than used silently.
"""

from __future__ import annotations

import functools
import hashlib
import os
from datetime import datetime
from pathlib import Path

import yaml
from dagster import DagsterInstance

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAREHOUSE_TAG = "amazon-orders/warehouse"
WAREHOUSES = "warehouses"  # the folder of DAGSTER_HOME holding each warehouse's instance
SERVES = "warehouse"  # the file of a warehouse's instance folder naming the warehouse it serves


class DagsterHomeError(ValueError):
    pass


def dagster_home() -> Path:
    """DAGSTER_HOME when set; otherwise .dagster in the project, holding a link to its dagster.yaml."""
    if os.environ.get("DAGSTER_HOME"):
        home = Path(os.environ["DAGSTER_HOME"])
        if not home.is_absolute():
            raise DagsterHomeError(f"DAGSTER_HOME must be an absolute path, not {str(home)!r}")
        if not home.is_dir():
            raise DagsterHomeError(
                f"DAGSTER_HOME {home} does not exist; create it with a dagster.yaml "
                f"(ln -s {PROJECT_ROOT / 'dagster.yaml'} {home}/), or unset it"
            )
        check_instance_config(home / "dagster.yaml")
        return home
    home = PROJECT_ROOT / ".dagster"
    home.mkdir(exist_ok=True)
    link = home / "dagster.yaml"
    if not link.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        link.unlink(missing_ok=True)  # a dangling link from a moved checkout
        link.symlink_to(PROJECT_ROOT / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def check_instance_config(path: Path) -> None:
    """Refuse an instance configuration that is missing, unreadable, or lacks the one-writer limit."""
    if not path.is_file():
        raise DagsterHomeError(
            f"{path} is missing: without it runs would not wait for each other on a warehouse "
            f"(ln -s {PROJECT_ROOT / 'dagster.yaml'} {path})"
        )
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise DagsterHomeError(f"{path} cannot be read: {str(error).splitlines()[0]}") from None
    limits = (
        (((config.get("run_coordinator") or {}).get("config") or {}).get("tag_concurrency_limits") or [])
        if isinstance(config, dict)
        else []
    )
    if not any(isinstance(limit, dict) and limit.get("key") == WAREHOUSE_TAG for limit in limits):
        raise DagsterHomeError(
            f"{path} has no run_coordinator limit on the {WAREHOUSE_TAG!r} tag: runs would write "
            f"to a warehouse at the same time (see {PROJECT_ROOT / 'dagster.yaml'})"
        )


def warehouse_home(db=None) -> Path:
    """The instance folder of a warehouse (`--db`, AMAZON_ORDERS_DB or the default), made on first use.

    In the processes of `make ui` DAGSTER_HOME is already that folder (it names the warehouse it serves)."""
    from pipelines.warehouse.connection import warehouse_path

    path = warehouse_path(db).resolve()
    home = dagster_home()
    served = _served(home)
    if served == str(path):
        return home
    base = home.parent.parent if served is not None else home
    folder = base / WAREHOUSES / f"{path.stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "dagster.yaml"
    if not link.is_symlink():
        try:  # relative: the home may move with its warehouses' instances
            link.symlink_to(Path("..") / ".." / "dagster.yaml")
        except FileExistsError:  # another process of this warehouse made it first
            pass
    if _served(folder) is None:
        (folder / SERVES).write_text(f"{path}\n")
    return folder


def _served(home: Path) -> str | None:
    try:
        return (home / SERVES).read_text().strip()
    except FileNotFoundError:
        return None


def get_instance(db=None) -> DagsterInstance:
    """The instance of a warehouse (`db`, else AMAZON_ORDERS_DB, else the default), loaded once a process for each."""
    return _instance(warehouse_home(db))


@functools.cache
def _instance(home: Path) -> DagsterInstance:
    try:
        return DagsterInstance.from_config(str(home))
    except Exception as error:  # Dagster's own config errors run to many lines
        raise DagsterHomeError(
            f"the Dagster instance in {home} does not load: {str(error).strip().splitlines()[0]}"
        ) from None


def warehouse_tag(db=None) -> str:
    """The WAREHOUSE_TAG value of a warehouse's runs: its resolved path, so runs on different warehouses
    neither wait for each other nor share a limit (#28; it was "default" for every warehouse)."""
    from pipelines.warehouse.connection import warehouse_path

    return str(warehouse_path(db).resolve())


def running_channels(instance, job_name: str, created_after: datetime | None = None) -> set[str]:
    """The channels (partitions) with a run of `job_name` queued or going (created after `created_after`, when
    given): a sensor starts no second one."""
    from dagster import DagsterRunStatus, RunsFilter

    going = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    runs = instance.get_runs(RunsFilter(job_name=job_name, statuses=going, created_after=created_after))
    return {run.tags.get("dagster/partition") for run in runs}
