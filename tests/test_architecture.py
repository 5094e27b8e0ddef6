"""The layers of the code (README, Developing), read from the folders of pipelines/: imports point inward only,
Amazon's and AWS's SDKs stay behind pipelines/amazon/ and Dagster in orchestration and the commands, the
sandbox stands alone, nothing imports the benchmarks, and nothing imports in a circle.

The import graph is read from the source with `ast`: import-linter's graph builder (grimp) cannot see
`pipelines.assets` and `pipelines.sql`, which live in the design card's top-level `assets/` and `sql/`."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

from conftest import ROOT

# package -> folder, as pyproject.toml maps them
PACKAGES = {
    "pipelines": ROOT / "pipelines",
    "pipelines.assets": ROOT / "assets",
    "pipelines.sql": ROOT / "sql",
    "benchmarks": ROOT / "benchmarks",
}
# The layers, innermost first: a module may import its own layer and the layers before it, never one after.
# A layer is a folder of pipelines/ (the design card's assets/ and the code location sit with orchestration);
# the top-level modules (the clock, a run's events) are the kernel every layer shares.
LAYERS = ["kernel", "amazon", "warehouse", "backoffice", "ingest", "outbound", "orchestration", "cli"]
ORCHESTRATION = {"assets", "definitions"}
# Where the third-party clients live: Amazon's SDK and AWS's only behind pipelines/amazon/, Dagster only
# from orchestration out.
CONFINED = {"sp_api": {"amazon"}, "boto3": {"amazon"}, "botocore": {"amazon"}, "dagster": {"orchestration", "cli"}}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


MODULES = modules()


def imports(name: str) -> set[str]:
    """What a module imports (anywhere in it, function bodies included), as module names."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


def internal(name: str) -> set[str]:
    return {target for target in imports(name) if target in MODULES and target != name}


def layer(name: str) -> str:
    package, _, rest = name.partition(".")
    if package == "benchmarks":
        return "benchmarks"
    folder = rest.partition(".")[0]
    if folder == "sandbox":
        return "sandbox"
    if folder in ORCHESTRATION:
        return "orchestration"
    if folder in LAYERS:
        return folder
    return "kernel"


def test_the_graph_is_read_from_every_module():
    assert {"pipelines.ingest.orders", "pipelines.assets.core", "pipelines.sandbox.server", "benchmarks.runner"} <= set(
        MODULES
    )
    assert "pipelines.warehouse.transform" in internal("pipelines.assets.core")


def test_nothing_imports_in_a_circle():
    graph = graphlib.TopologicalSorter({name: internal(name) for name in MODULES})
    graph.prepare()  # raises CycleError naming the circle


def test_every_folder_of_pipelines_is_a_layer():
    folders = {path.name for path in (ROOT / "pipelines").iterdir() if (path / "__init__.py").exists()}
    assert folders == set(LAYERS[1:]) | {"sandbox"}, "a new folder of pipelines/ needs its place in LAYERS"


def test_imports_point_inward_only():
    """An inner layer never imports an outer one: the warehouse knows nothing of ingestion, Amazon's clients
    nothing of the warehouse, and only the commands start the sandbox."""
    wrong = []
    for name in MODULES:
        here = layer(name)
        if here in ("benchmarks", "sandbox"):
            continue
        for target in internal(name):
            there = layer(target)
            if there == "sandbox":
                if here != "cli":
                    wrong.append(f"{name} imports the sandbox ({target})")
            elif there != "benchmarks" and LAYERS.index(there) > LAYERS.index(here):
                wrong.append(f"{name} ({here}) imports {target} ({there})")
    assert not wrong, "\n".join(wrong)


def test_amazon_aws_and_dagster_are_imported_only_where_they_belong():
    wrong = []
    for name in MODULES:
        here = layer(name)
        if here in ("benchmarks", "sandbox"):
            continue
        for target in imports(name):
            allowed = CONFINED.get(target.split(".")[0])
            if allowed is not None and here not in allowed:
                wrong.append(f"{name} ({here}) imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_sandbox_stands_alone():
    for name in MODULES:
        if layer(name) == "sandbox":
            assert not {t for t in internal(name) if layer(t) != "sandbox"}, name


def test_nothing_imports_the_benchmarks_or_the_folders_as_top_level_packages():
    for name in MODULES:
        if layer(name) != "benchmarks":
            assert not {t for t in internal(name) if layer(t) == "benchmarks"}, name
        assert not {t for t in imports(name) if t.split(".")[0] in ("assets", "sql")}, name


def test_benchmarks_drive_the_product_through_its_public_names_only():
    """No private name imported or reached through a module, and no module attribute replaced (monkeypatching)."""
    for name, path in MODULES.items():
        if layer(name) != "benchmarks":
            continue
        tree = ast.parse(path.read_text())
        modules = set()  # local names bound to the product's modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipelines"):
                assert not [a.name for a in node.names if a.name.startswith("_")], (name, node.module)
                modules.update(a.asname or a.name for a in node.names if f"{node.module}.{a.name}" in MODULES)
            if isinstance(node, ast.Import):
                modules.update(a.asname for a in node.names if a.name.startswith("pipelines") and a.asname)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                assert not (node.attr.startswith("_") and not node.attr.startswith("__")), (
                    f"{name} reaches into {node.value.id}.{node.attr}"
                )
                assert not isinstance(node.ctx, ast.Store), f"{name} replaces {node.value.id}.{node.attr}"


def test_the_wheel_ships_one_top_level_package_with_every_model_and_sql_file(tmp_path):
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "source"  # a copy: setuptools leaves a build/ folder behind
    source.mkdir()
    for part in ("pipelines", "assets", "sql", "pyproject.toml", "README.md"):
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / part, source / part)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")} == {"pipelines"}
    shipped = {
        f"pipelines/{folder}/{path.relative_to(ROOT / folder)}"
        for folder in ("sql", "assets")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".sql", ".py", ".toml")
    }
    shipped |= {f"pipelines/sandbox/models/{path.name}" for path in (ROOT / "pipelines/sandbox/models").glob("*.json")}
    assert shipped - names == set()


def test_the_table_reference_describes_the_tables_as_docs_sql_does():
    from pipelines.warehouse.tables import CORE_TABLES, markdown_reference

    reference = (ROOT / "docs" / "tables.md").read_text()
    section = reference.split("<!-- tables:start", 1)[1].split("-->", 1)[1].split("<!-- tables:end -->")[0]
    assert section.strip() == markdown_reference(CORE_TABLES)
