"""The SQL models of sql/ and the order they run in.

A model is one select in one file. It reads other models and the tables sql/warehouse/ declares,
nothing else; which ones is read from its own SQL, and the run order follows from that. Staging
and intermediate models are scratch, materialised as temp tables named after their file. A core
model computes the new rows of the table it is named after, staged as `new_<table>`. Python steps
(the pandera contracts) sit among them with the relations they read and write declared.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from pipelines.sql import SQL_DIR, read_sql
from pipelines.warehouse import tables

LAYERS = ("staging", "intermediate", "core")


@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    reads: frozenset[str]

    @property
    def sql(self) -> str:
        return read_sql(f"{self.layer}/{self.name}.sql")

    @property
    def relation(self) -> str:
        """What it materialises: a core model's rows are staged beside the table they go into."""
        return f"new_{self.name}" if self.layer == "core" else self.name

    @property
    def is_scratch(self) -> bool:
        return self.layer != "core"

    @property
    def writes(self) -> frozenset[str]:
        return frozenset({self.relation})

    def parameters(self, values: dict) -> dict | None:
        """The run's parameters this model uses (DuckDB refuses parameters a statement does not use)."""
        used = {name: value for name, value in values.items() if re.search(rf"\${name}\b", self.sql)}
        return used or None


@dataclass(frozen=True)
class Step:
    """A Python step between the models, with what it reads and writes declared."""

    name: str
    reads: frozenset[str]
    writes: frozenset[str]
    run: Callable

    is_scratch = False


@cache
def models() -> tuple[Model, ...]:
    found = []
    for layer in LAYERS:
        for path in sorted((SQL_DIR / layer).glob("*.sql")):
            found.append(Model(path.stem, layer, tables.relations_read(read_sql(f"{layer}/{path.name}"))))
    return tuple(found)


def run_order(steps: tuple[Step, ...] = ()) -> list[Model | Step]:
    """Models and steps in an order where each comes after whatever produces what it reads; a scratch
    model that no core model or step needs (one only the marts read) is left out.

    A relation that no model or step produces must be declared in sql/warehouse/: it is read as it
    stands (the way a staging model reads raw_amazon_orders, or a core model its own table).
    """
    nodes: list[Model | Step] = [*models(), *steps]
    producers = {relation: node for node in nodes for relation in node.writes}
    declared = tables.declared_relations()
    graph = graphlib.TopologicalSorter()
    for node in nodes:
        inputs = []
        for relation in sorted(node.reads):
            if relation in producers:
                inputs.append(producers[relation].name)
            elif relation not in declared:
                raise LookupError(
                    f"{node.name} reads {relation}, which is neither a model nor a table "
                    "declared in sql/warehouse/tables.sql"
                )
        graph.add(node.name, *inputs)
    by_name = {node.name: node for node in nodes}
    needed: set[str] = set()
    kept: list[Model | Step] = []
    for node in reversed([by_name[name] for name in graph.static_order()]):
        if not node.is_scratch or node.relation in needed:
            needed |= node.reads
            kept.append(node)
    return kept[::-1]


def before_any_core(order: list[Model | Step]) -> tuple[list[Model | Step], list[Model | Step]]:
    """Split a run order: the scratch models that need nothing a core model or step produces, then the rest."""
    early_names: set[str] = set()
    producers = {relation: node for node in order for relation in node.writes}
    early, late = [], []
    for node in order:
        inputs = {producers[r].name for r in node.reads if r in producers}
        if node.is_scratch and inputs <= early_names:
            early_names.add(node.name)
            early.append(node)
        else:
            late.append(node)
    return early, late
