"""The typed stub `_core.pyi` matches the compiled core: every binding has a stub with the
same parameter names and defaults, and the stub names nothing the core lacks. A binding
added or changed without its stub fails here."""
import ast
import re
from pathlib import Path

import pytest

import genmix
from genmix import _core

STUB = Path(genmix.__file__).with_name("_core.pyi")
# defined in _core.py itself (the variant loader), not in the compiled module
LOADER = {"cpu_features", "runs_here", "built_variants", "load", "variant"}


def stub_functions():
    tree = ast.parse(STUB.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            args = node.args.args + node.args.kwonlyargs
            defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + node.args.defaults
            defaults += node.args.kw_defaults
            out[node.name] = [(a.arg, None if d is None else ast.literal_eval(d)) for a, d in zip(args, defaults)]
        elif isinstance(node, ast.ClassDef):
            out[node.name] = "class"
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = "value"
    return out


def split_top_level(text):
    """Splits "a: X[b, c], d: e = 1" at the commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


def binding_parameters(fn):
    """(name, default) pairs from pybind11's signature line "f(a: T, b: U = 2) -> R"."""
    first = fn.__doc__.splitlines()[0]
    m = re.match(rf"{fn.__name__}\((.*)\) -> ", first)
    assert m, f"no pybind11 signature for {fn.__name__}: {first!r}"
    params = []
    for part in split_top_level(m.group(1)):
        if part in ("*", "/"):
            continue
        name, _, rest = part.partition(":")
        default = None
        if "=" in rest:
            text = rest.split("=", 1)[1].strip()
            try:
                default = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                default = text
        params.append((name.strip(), default))
    return params


@pytest.fixture(scope="module")
def compiled():
    return _core.load(_core.variant)


def test_every_binding_has_a_stub_and_every_stub_a_binding(compiled):
    runtime = {n for n in dir(compiled) if not n.startswith("_")}
    stubbed = set(stub_functions()) - LOADER
    assert not runtime - stubbed, f"bindings without a stub in _core.pyi: {sorted(runtime - stubbed)}"
    assert not stubbed - runtime, f"stubs of no binding: {sorted(stubbed - runtime)}"
    for name in LOADER:
        assert hasattr(_core, name)


def test_stub_parameters_match_the_bindings(compiled):
    stubs = stub_functions()
    for name in sorted(n for n in dir(compiled) if not n.startswith("_")):
        fn = getattr(compiled, name)
        if stubs.get(name) in ("class", "value") or not callable(fn) or isinstance(fn, type):
            continue
        expected = binding_parameters(fn)
        assert [p[0] for p in stubs[name]] == [p[0] for p in expected], f"{name}: parameter names differ"
        for (pname, sdef), (_, rdef) in zip(stubs[name], expected):
            if rdef is not None and not isinstance(rdef, str):
                assert sdef == rdef, f"{name}({pname}): default {sdef!r} in the stub, {rdef!r} in the core"
