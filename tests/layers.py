"""The layer rule, read from the source (AST): every import of a package module, at module level,
inside a function or under TYPE_CHECKING, and every module named in a string (importlib), is an
edge; an edge may not point to a higher layer nor close a cycle, and Streamlit is imported only
in ui/. Used by tests/test_layers.py, on specviz and on small packages built to break the rule.
"""
import ast
from pathlib import Path

# lowest first; a module may import its own layer and the ones before it
LAYERS = ("foundation", "decoding", "measure", "present", "services", "lessons", "train", "cli", "ui", "entry")
FOUNDATION = ("errors", "trace", "paths", "counts", "theory", "numbers")  # specviz/<name>.py
UI_ONLY = "streamlit"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Module name -> file for every .py file of the package below root."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def layer(module: str, package: str = "specviz", foundation=FOUNDATION) -> str | None:
    """The layer of a module: foundation files at the top, a folder per layer, __main__ on top."""
    parts = module.split(".")[1:]
    if not parts or (len(parts) == 1 and parts[0] in foundation):
        return "foundation"
    if parts == ["__main__"]:
        return "entry"
    return parts[0] if parts[0] in LAYERS[1:-1] else None


def imports(module: str, path: Path, known: set[str], package: str) -> list[tuple[str, int]]:
    """(imported module, line) of every import in the file, however deep in it; "streamlit" stands
    for any Streamlit import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here.split(".")[:len(here.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            names = [node.value]  # importlib.import_module("specviz.x")
        for name in names:
            if name.split(".")[0] == UI_ONLY:
                out.append((UI_ONLY, node.lineno))
            elif name.split(".")[0] == package:
                while name not in known:  # `import specviz.x.y` where y is a name, not a module
                    name = name.rpartition(".")[0]
                out.append((name, node.lineno))
    return [(name, line) for name, line in out if name != module]


def packages(module: str, name: str) -> list[str]:
    """The packages whose __init__ importing name runs first, from outside them (cycles there count)."""
    parts = name.split(".")
    return [p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if not (module + ".").startswith(p + ".")]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def violations(root: Path, package: str = "specviz", foundation=FOUNDATION) -> list[str]:
    """Every breach of the rule, one line each with file:line; [] when the package keeps it."""
    known = modules(root, package)
    rank = {name: i for i, name in enumerate(LAYERS)}
    out, graph, where = [], {}, {}
    for module, path in known.items():
        mine = layer(module, package, foundation)
        rel = path.relative_to(root)
        if mine is None:
            out.append(f"{rel}: outside every layer (a folder per layer; foundation: {', '.join(foundation)})")
        for name, line in imports(module, path, set(known), package):
            if name == UI_ONLY:
                if mine != "ui":
                    out.append(f"{rel}:{line}: imports Streamlit outside ui/")
                continue
            for edge in [name, *packages(module, name)]:
                graph.setdefault(module, set()).add(edge)
                where.setdefault((module, edge), f"{rel}:{line}")
            theirs = layer(name, package, foundation)
            if mine and theirs and rank[theirs] > rank[mine]:
                out.append(f"{rel}:{line}: {module} ({mine}) imports {name} ({theirs}): upward")
    for comp in cycles(graph):
        edges = [where[(a, b)] + f" {a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
        out.append("import cycle " + " <-> ".join(comp) + ": " + "; ".join(edges))
    return out
