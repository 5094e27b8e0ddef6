"""The Dagster instance the CLI records its runs in: the one `dagster dev` and `make ui` show."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterInstance

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def dagster_home() -> Path:
    """DAGSTER_HOME when set; otherwise .dagster in the project, holding a link to its dagster.yaml."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = PROJECT_ROOT / ".dagster"
    home.mkdir(exist_ok=True)
    link = home / "dagster.yaml"
    if not link.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        link.symlink_to(PROJECT_ROOT / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance() -> DagsterInstance:
    dagster_home()
    return DagsterInstance.get()
