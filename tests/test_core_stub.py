"""The typed stubs `_core/*.pyi` match the compiled core (top level and each submodule):
every binding has a stub with the same parameter names and defaults, and the stubs name
nothing the core lacks. A binding
added or changed without its stub fails here."""
import ast
import re
from pathlib import Path

import numpy as np
import pytest

from genmix import _core

STUBS = Path(_core.__file__).parent  # __init__.pyi and one .pyi per submodule
# defined in _core/__init__.py itself (the variant loader), not in the compiled module
LOADER = {"cpu_features", "runs_here", "built_variants", "load", "variant", "SUBMODULES"}


def _parameters(node):
    args = node.args.args + node.args.kwonlyargs
    defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + node.args.defaults
    defaults += node.args.kw_defaults
    return [(a.arg, None if d is None else ast.literal_eval(d)) for a, d in zip(args, defaults)]


def stub_names(module):
    """What a stub file declares: name -> parameters (functions), {member: parameters or
    "value"} (classes), "value", "module" (submodules); TypedDicts, which exist only for the
    type checker, are left out."""
    tree = ast.parse((STUBS / f"{module}.pyi").read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = _parameters(node)
        elif isinstance(node, ast.ClassDef):
            bases = {getattr(b, "id", None) for b in node.bases}
            if bases & ({"TypedDict"} | {n for n, v in out.items() if v == "typeddict"}):
                out[node.name] = "typeddict"
                continue
            members = {}
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    members[item.name] = _parameters(item)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members[item.target.id] = "value"
            out[node.name] = members
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = "value"
        elif isinstance(node, ast.ImportFrom) and node.module is None:
            for alias in node.names:
                out[alias.asname or alias.name] = "module"
    return {n: v for n, v in out.items() if v != "typeddict"}


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


def _public(obj):
    return {n for n in dir(obj) if not n.startswith("_")}


def _check_parameters(where, fn, stub_params):
    expected = binding_parameters(fn)
    if expected and expected[0][0] == "self":
        expected = expected[1:]
    if stub_params and stub_params[0][0] == "self":
        stub_params = stub_params[1:]
    assert [p[0] for p in stub_params] == [p[0] for p in expected], f"{where}: parameter names differ"
    for (pname, sdef), (_, rdef) in zip(stub_params, expected):
        if rdef is not None and not isinstance(rdef, str):
            assert sdef == rdef, f"{where}({pname}): default {sdef!r} in the stub, {rdef!r} in the core"


MODULES = ("__init__",) + tuple(_core.SUBMODULES)


@pytest.mark.parametrize("module", MODULES)
def test_every_binding_has_a_stub_and_every_stub_a_binding(compiled, module):
    runtime = compiled if module == "__init__" else getattr(compiled, module)
    stubs = stub_names(module)
    stubbed = set(stubs) - (LOADER if module == "__init__" else set())
    names = _public(runtime)
    assert not names - stubbed, f"bindings without a stub in {module}.pyi: {sorted(names - stubbed)}"
    assert not stubbed - names, f"stubs of no binding in {module}.pyi: {sorted(stubbed - names)}"
    for name, members in stubs.items():
        if isinstance(members, dict):
            cls = getattr(runtime, name)
            assert isinstance(cls, type), f"{module}.{name} is a class in the stub only"
            declared = {m for m in members if not m.startswith("_")}
            assert _public(cls) == declared, f"{module}.{name}: members differ from the stub"
    if module == "__init__":
        for name in LOADER:
            assert hasattr(_core, name)


@pytest.mark.parametrize("module", MODULES)
def test_stub_parameters_match_the_bindings(compiled, module):
    runtime = compiled if module == "__init__" else getattr(compiled, module)
    for name, stub in stub_names(module).items():
        if name in LOADER and module == "__init__":
            continue
        obj = getattr(runtime, name)
        if isinstance(stub, list):
            _check_parameters(f"{module}.{name}", obj, stub)
        elif isinstance(stub, dict):
            for member, params in stub.items():
                if isinstance(params, list):
                    _check_parameters(f"{module}.{name}.{member}", getattr(obj, member), params)


def test_submodules_import_by_name_and_their_classes_pickle_by_it():
    import importlib
    import pickle

    for module in _core.SUBMODULES:
        assert importlib.import_module(f"genmix._core.{module}") is getattr(_core, module)
    X = np.arange(12.0).reshape(6, 2)
    st = _core.gmm.e_step_stats(X, None, np.ones(1), X[:1], np.ones(1), "spherical", X[0], "soft", 1)
    assert type(st).__module__ == "genmix._core.gmm"
    assert b"genmix._core.gmm" in pickle.dumps(st)
