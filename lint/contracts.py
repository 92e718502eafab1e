"""import-linter contracts of our own, run by `make lint` (pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterable

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


class AcyclicModulesContract(Contract):
    """No module-level import cycle among the modules of `packages`, inside one
    package or across them. Imports inside functions count: a lazy import that
    dodges a cycle is still one."""

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        packages: list[str] = list(self.packages)  # type: ignore[call-overload]  # import-linter fields are descriptors
        modules = {
            module
            for package in packages
            for module in graph.find_descendants(package) | {package}
        }
        cycles = [
            sorted(component)
            for component in _strongly_connected(modules, graph)
            if len(component) > 1
        ]
        return ContractCheck(kept=not cycles, metadata={"cycles": sorted(cycles)})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error("These modules import each other in a cycle:")
            for module in cycle:
                output.print_error(f"- {module}", bold=False)
            output.new_line()


def _strongly_connected(modules: set[str], graph: ImportGraph) -> Iterable[set[str]]:
    """Tarjan's algorithm, iterative: the strongly connected components."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def edges(module: str) -> list[str]:
        return sorted(graph.find_modules_directly_imported_by(module) & modules)

    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(edges(root)))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges(child))))
                elif child in on_stack:
                    lowlink[module] = min(lowlink[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[module])
            if lowlink[module] == index[module]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == module:
                        break
                yield component
