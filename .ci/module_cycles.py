#!/usr/bin/env python3
"""Reports cycles between the top-level modules of each crate (issue 10).

A module `a` depends on `b` when a file of `a` (src/a.rs, or src/a/**/*.rs) names
`crate::b` — in a `use`, a path, or a doc link that the compiler would resolve —, or,
inside `src/a/`, `super::b` where that `super` is the crate root. Test modules
(`#[cfg(test)] mod tests { … }` at the end of a file) are left out: a unit test may use
anything. Prints every strongly connected component of more than one module, and exits
with status 1 when there is one.

    python3 .ci/module_cycles.py                 # every crate under crates/
    python3 .ci/module_cycles.py crates/portcullis-core
"""

import pathlib
import re
import sys

USE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
SUPER = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")


def strip_tests(text):
    """The text before a trailing `#[cfg(test)]` module, without comments."""
    index = text.find("#[cfg(test)]\nmod ")
    if index >= 0:
        text = text[:index]
    # Doc comments name modules in prose and links; rustdoc links do not make a module
    # depend on another, so comments are left out.
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def modules_of(src):
    """{module name: [files]} for the top-level modules of a crate's src/."""
    modules = {}
    for path in sorted(src.rglob("*.rs")):
        relative = path.relative_to(src)
        if relative.parts[0] in ("lib.rs", "main.rs", "bin"):
            continue
        name = relative.parts[0].removesuffix(".rs")
        modules.setdefault(name, []).append(path)
    return modules


def graph_of(src):
    modules = modules_of(src)
    edges = {name: set() for name in modules}
    for name, files in modules.items():
        for path in files:
            text = strip_tests(path.read_text())
            targets = set(USE.findall(text))
            # `super::x` in src/a.rs or src/a/mod.rs is the crate root's `x`; deeper
            # down (src/a/b.rs) it stays inside `a`.
            parts = path.relative_to(src).parts
            if len(parts) == 1 or (len(parts) == 2 and parts[1] == "mod.rs"):
                targets |= set(SUPER.findall(text))
            targets.discard(name)
            edges[name] |= {t for t in targets if t in modules}
    return edges


def cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main(argv):
    root = pathlib.Path(__file__).resolve().parent.parent
    crates = [pathlib.Path(a) for a in argv] or sorted((root / "crates").iterdir())
    failed = False
    for crate in crates:
        src = crate / "src"
        if not src.is_dir():
            continue
        edges = graph_of(src)
        found = cycles(edges)
        for component in found:
            failed = True
            detail = "; ".join(
                f"{a} -> {', '.join(sorted(edges[a] & set(component)))}" for a in component
            )
            print(f"{crate.name}: cycle among {', '.join(component)} ({detail})")
        if not found:
            print(f"{crate.name}: no cycle among {len(edges)} modules")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
