"""The exporter's modules import one another one way only: no circle, and no import
inside a function to dodge one."""

import ast
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def local_imports():
    """Each module of this folder and the modules of this folder it imports; and the
    functions that import anything."""
    modules = {f[:-3] for f in os.listdir(HERE) if f.endswith(".py")}
    graph, nested = {}, []
    for name in sorted(modules):
        with open(os.path.join(HERE, name + ".py")) as f:
            tree = ast.parse(f.read())
        graph[name] = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module in modules:
                graph[name].add(node.module)
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(fn)):
                    nested.append(f"{name}.{fn.name}")
    return graph, nested


def find_circle(graph):
    """A list of modules that import each other round in a circle, or None."""
    state = {}

    def visit(name, path):
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state:
                circle = visit(dep, path + [dep])
                if circle:
                    return circle
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            circle = visit(name, [name])
            if circle:
                return circle
    return None


class ImportsTest(unittest.TestCase):
    def test_no_circle(self):
        graph, _ = local_imports()
        self.assertIn("bundle_io", graph["act_export"])
        self.assertIsNone(find_circle(graph))

    def test_finds_a_circle(self):
        self.assertEqual(find_circle({"a": {"b"}, "b": {"a"}}), ["a", "b", "a"])
        self.assertIsNone(find_circle({"a": {"b"}, "b": set()}))

    def test_no_import_in_a_function(self):
        _, nested = local_imports()
        self.assertEqual(nested, [])


if __name__ == "__main__":
    unittest.main()
