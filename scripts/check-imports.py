#!/usr/bin/env python3
"""The module graph of src/: who refers to whom (crate:: and super:: paths), at the level of
top-level modules and of the engine's, core's and conn's files. Fails on a cycle, on a
reference against the layering ffi -> session -> engine -> core -> conn (no module refers back
up, and the core not to conn either), or on the session core (src/core) doing I/O or reading
a clock: it may not name mio, sockets, threads, files, tungstenite, Instant::now or
SystemTime."""
import pathlib
import re
import sys

src = pathlib.Path(__file__).resolve().parent.parent / "src"
SPLIT = {"engine", "core", "conn"}  # modules whose files are nodes of their own
LAYERS = ["ffi", "session", "engine", "core", "conn"]  # each may refer only to later ones
# What the sans-IO core may not name (outside its unit tests).
CORE_FORBIDDEN = ["mio", "std::net", "std::thread", "std::fs", "std::io", "tungstenite",
                  "crossbeam_channel", "Instant::now", "SystemTime", "crate::conn"]


def module_of(path):
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return parts


def node(parts):
    if not parts:
        return None
    if parts[0] in SPLIT and len(parts) > 1:
        return f"{parts[0]}::{parts[1]}"
    return parts[0]


edges = {}
problems = []
def sources(root):
    """The files of `root` that are built outside tests (a `tests.rs` is a #[cfg(test)] module)."""
    return [f for f in sorted(root.rglob("*.rs")) if f.name != "tests.rs"]


for f in sources(src / "core"):
    text = re.sub(r"//[^\n]*", "", f.read_text()).split("#[cfg(test)]")[0]
    for word in CORE_FORBIDDEN:
        if re.search(r"(?<![A-Za-z0-9_])" + re.escape(word) + r"\b", text):
            problems.append(f"{f.relative_to(src)} names {word}: the session core does no I/O and reads no clock")
for f in sources(src):
    me = module_of(f)
    here = node(me)
    if here is None:
        continue
    text = re.sub(r"//[^\n]*", "", f.read_text())
    text = text.split("#[cfg(test)]")[0]  # unit tests may reach anywhere
    targets = set()
    for m in re.finditer(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", text):
        targets.add(node(m.group(1).split("::")))
    for m in re.finditer(r"\b((?:super::)+)([a-z_][a-z0-9_]*)", text):
        ups = m.group(1).count("super::")
        targets.add(node(me[: len(me) - ups] + [m.group(2)]))
    edges[here] = edges.get(here, set()) | {t for t in targets if t and t != here}

for a, bs in edges.items():
    for b in bs:
        la = next((i for i, l in enumerate(LAYERS) if a == l or a.startswith(l + "::")), None)
        lb = next((i for i, l in enumerate(LAYERS) if b == l or b.startswith(l + "::")), None)
        if la is not None and lb is not None and lb < la:
            problems.append(f"{a} refers to {b}, against ffi -> session -> engine -> core -> conn")

state = {}
def visit(n, stack):
    state[n] = 1
    for m in sorted(edges.get(n, ())):
        if state.get(m) == 1:
            problems.append("cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
        elif m not in state:
            visit(m, stack + [m])
    state[n] = 2

for n in sorted(edges):
    if n not in state:
        visit(n, [n])

for p in problems:
    print(p)
print(f"module graph: {len(edges)} modules, {sum(map(len, edges.values()))} references, {len(problems)} problems")
sys.exit(1 if problems else 0)
