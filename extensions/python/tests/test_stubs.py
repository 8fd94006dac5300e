"""The stub file ``twinloom/_native.pyi`` matches the native module: every name (functions, classes, their
methods, static methods and properties) is in the stub with the same parameters, kinds and defaults, and
the stub names nothing the module lacks. So the stubs cannot silently drift from the Rust code."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import twinloom
from twinloom import _native

STUB = Path(twinloom.__file__).with_name("_native.pyi")


def stub_tree() -> dict:
    tree = ast.parse(STUB.read_text())
    out: dict = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = ("function", node)
        elif isinstance(node, ast.ClassDef):
            members = {}
            for m in node.body:
                if isinstance(m, ast.FunctionDef):
                    decos = {d.id for d in m.decorator_list if isinstance(d, ast.Name)}
                    kind = "property" if "property" in decos else "static" if "staticmethod" in decos else "method"
                    members[m.name] = (kind, m)
            out[node.name] = ("class", node, members)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = ("value", node)
    return out


def stub_params(fn: ast.FunctionDef, drop_self: bool) -> list:
    a = fn.args
    pos = a.posonlyargs + a.args
    defaults = [None] * (len(pos) - len(a.defaults)) + list(a.defaults)
    out = [(p.arg, "POSITIONAL_OR_KEYWORD", d) for p, d in zip(pos, defaults)]
    out += [(p.arg, "KEYWORD_ONLY", d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if drop_self:
        out = out[1:]
    return [(n, k, "<none>" if d is None else ast.literal_eval(d)) for n, k, d in out]


def native_params(obj, drop_self: bool) -> list:
    sig = inspect.signature(obj)
    ps = list(sig.parameters.values())
    if drop_self and ps and ps[0].name in ("self", "$self"):
        ps = ps[1:]
    return [(p.name, p.kind.name, "<none>" if p.default is inspect.Parameter.empty else p.default) for p in ps]


def public(names):
    return sorted(n for n in names if not (n.startswith("__") and n.endswith("__")))


def test_every_native_name_is_in_the_stub_and_back():
    stub = stub_tree()
    names = public(dir(_native))
    assert sorted(set(names) - set(stub)) == [], "names missing from _native.pyi"
    assert sorted(set(public(stub)) - set(names)) == [], "names in _native.pyi the module lacks"


def test_functions_match():
    stub = stub_tree()
    for name in public(dir(_native)):
        obj = getattr(_native, name)
        if inspect.isbuiltin(obj) or inspect.isroutine(obj):
            kind, node = stub[name][:2]
            assert kind == "function", name
            assert native_params(obj, False) == stub_params(node, False), name


def test_classes_match():
    stub = stub_tree()
    for name in public(dir(_native)):
        cls = getattr(_native, name)
        if not isinstance(cls, type):
            continue
        kind, node, members = stub[name]
        assert kind == "class", name
        if issubclass(cls, BaseException):
            assert members == {}, name
            continue
        # Constructor: the class's text signature against the stub's __init__ (none without one).
        if cls.__text_signature__ is not None and "*args" not in cls.__text_signature__:
            assert "__init__" in members, f"{name}.__init__ missing from the stub"
            assert native_params(cls, False) == stub_params(members["__init__"][1], True), name
        else:
            assert "__init__" not in members, f"{name} has no constructor, but the stub gives one"
        native_members = {k: v for k, v in cls.__dict__.items() if not (k.startswith("__") and k.endswith("__"))}
        # Dunder methods (e.g. ``__len__``) may be in the stub for type checkers; they are not compared.
        stub_members = [k for k in members if not (k.startswith("__") and k.endswith("__"))]
        assert sorted(native_members) == sorted(stub_members), name
        for k, v in native_members.items():
            skind, fn = members[k]
            if type(v).__name__ == "getset_descriptor":
                assert skind == "property", f"{name}.{k}"
            elif isinstance(v, staticmethod):
                assert skind == "static", f"{name}.{k}"
                assert native_params(getattr(cls, k), False) == stub_params(fn, False), f"{name}.{k}"
            else:
                assert skind == "method", f"{name}.{k}"
                assert native_params(v, True) == stub_params(fn, True), f"{name}.{k}"


def test_native_docstrings():
    for name in public(dir(_native)):
        obj = getattr(_native, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
