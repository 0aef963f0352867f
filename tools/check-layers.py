#!/usr/bin/env python3
"""Checks Bursar's layering: every #include "controllers/..." or "operator/..." in a source file
under controllers/ or operator/ must name its own folder or a folder that tools/layers.txt lets
it use, and the folder graph must have no cycle. Prints each violation as file:line and exits 1.

Usage: check-layers.py [REPO_ROOT] [--stamp FILE]   (the stamp is touched on success, for CMake)
"""
import argparse
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"((?:controllers|operator)/[a-z_]+)/')


def read_layers(root):
    layers = {}
    for line in (root / "tools/layers.txt").read_text().splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            layers[line[0]] = {"target": line[1], "uses": set(line[2:])}
    return layers


def find_cycle(graph):
    """A folder cycle as a list, or None (depth-first search over the actual include graph)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default=pathlib.Path(__file__).resolve().parent.parent,
                        type=pathlib.Path, help="the repository root (default: this checkout)")
    parser.add_argument("--stamp", type=pathlib.Path, help="file to touch when the check passes")
    options = parser.parse_args(argv[1:])
    root = options.root
    layers = read_layers(root)
    errors, graph = [], {}
    for path in sorted(root.glob("controllers/**/*")) + sorted(root.glob("operator/**/*")):
        if path.suffix not in (".h", ".cc"):
            continue
        rel = path.relative_to(root)
        folder = "/".join(rel.parts[:2])
        if folder not in layers:
            errors.append(f"{rel}: folder {folder} is not in tools/layers.txt")
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = INCLUDE.match(line)
            if not match or match.group(1) == folder:
                continue
            target = match.group(1)
            graph.setdefault(folder, set()).add(target)
            if target not in layers[folder]["uses"]:
                errors.append(f"{rel}:{number}: {folder} may not include {target} "
                              f"(tools/layers.txt lets it use: "
                              f"{' '.join(sorted(layers[folder]['uses'])) or 'nothing'})")
    cycle = find_cycle(graph)
    if cycle:
        errors.append("folder include cycle: " + " -> ".join(cycle))
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        return 1
    if options.stamp:
        options.stamp.touch()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
