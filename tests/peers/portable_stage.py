"""Checks that a stage is portable: OpenUSD without Twinloom's schema plugin places it as with it.

Usage: python portable_stage.py STAGE_FILE [PLUGIN_DIR]

Opens STAGE_FILE in two fresh Python processes (usd-core's pxr), one with PXR_PLUGINPATH_NAME removed
from the environment and one with it set to PLUGIN_DIR (default: the repo's usd-schemas/). Each lists
every prim with xform ops (authored xformOp:* or xformOpOrder), whether it is Xformable and its world
transform (UsdGeom.XformCache at the default time), the defaultPrim and whether it is Xformable or a
Scope, and runs usd-core's UsdValidation (every registered validator) over the stage. The parent then
checks: without the plugin every prim with xform ops is Xformable and its world transform equals the one
with the plugin to 1e-9; the defaultPrim is Xformable or a Scope both ways; UsdValidation finds no error
either way. It prints a one-line JSON summary (prims compared, largest difference, errors and warnings
with and without the plugin) and exits 1 with a message naming the first offending prims otherwise.
"""

import json
import os
import subprocess
import sys

TOLERANCE = 1e-9
SHOW = 5  # offending prims named per problem


def probe(path):
    """What this process's OpenUSD makes of the stage (run in a child process)."""
    from pxr import Usd, UsdGeom, UsdValidation

    stage = Usd.Stage.Open(path)
    cache = UsdGeom.XformCache()
    prims = {}
    for prim in stage.Traverse(Usd.TraverseInstanceProxies(Usd.PrimDefaultPredicate)):
        names = [a.GetName() for a in prim.GetAuthoredAttributes()]
        if not any(n.startswith("xformOp:") or n == "xformOpOrder" for n in names):
            continue
        world = cache.GetLocalToWorldTransform(prim)
        prims[str(prim.GetPath())] = {
            "type": str(prim.GetTypeName()),
            "xformable": prim.IsA(UsdGeom.Xformable),
            "world": [world[r][c] for r in range(4) for c in range(4)],
        }
    default = stage.GetDefaultPrim()
    default_ok = bool(default) and (default.IsA(UsdGeom.Xformable) or default.IsA(UsdGeom.Scope))
    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
    found = UsdValidation.ValidationContext(validators).Validate(stage)
    kinds = UsdValidation.ValidationErrorType
    describe = lambda e: f"{e.GetName()}: {e.GetMessage()}"
    return {
        "prims": prims,
        "default": str(default.GetPath()) if default else "",
        "default_type": str(default.GetTypeName()) if default else "",
        "default_ok": default_ok,
        "validators": len(validators),
        "errors": [describe(e) for e in found if e.GetType() == kinds.Error],
        "warnings": [describe(e) for e in found if e.GetType() == kinds.Warn],
    }


def run_probe(path, plugin_dir):
    """Runs `probe` in a fresh interpreter, without the plugin (plugin_dir None) or with it."""
    env = dict(os.environ)
    env.pop("PXR_PLUGINPATH_NAME", None)
    if plugin_dir:
        env["PXR_PLUGINPATH_NAME"] = plugin_dir
    out = subprocess.run([sys.executable, __file__, "--probe", path], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        how = "with" if plugin_dir else "without"
        sys.exit(f"portable_stage: probing {path} {how} the plugin failed:\n{out.stdout}{out.stderr}")
    return json.loads(out.stdout)


def compare(bare, plugged):
    """The problems found, each a sentence naming the first offending prims; and the largest difference."""
    problems = []
    not_xformable = [f"{p} ({v['type'] or 'no type'})" for p, v in bare["prims"].items() if not v["xformable"]]
    if not_xformable:
        problems.append(
            f"{len(not_xformable)} prims with xform ops are not Xformable without the plugin "
            f"(their transforms are ignored): {', '.join(not_xformable[:SHOW])}"
        )
    only = sorted(set(bare["prims"]) ^ set(plugged["prims"]))
    if only:
        problems.append(f"{len(only)} prims have xform ops only with or only without the plugin: {only[:SHOW]}")
    worst, worst_path, off = 0.0, "", []
    for p, v in plugged["prims"].items():
        b = bare["prims"].get(p)
        if b is None:
            continue
        d = max(abs(x - y) for x, y in zip(v["world"], b["world"]))
        if d > worst:
            worst, worst_path = d, p
        if d > TOLERANCE:
            off.append(p)
    if off:
        problems.append(
            f"{len(off)} world transforms differ without the plugin, by up to {worst:g} at {worst_path}: "
            f"{', '.join(off[:SHOW])}"
        )
    for how, r in (("without", bare), ("with", plugged)):
        if not r["default_ok"]:
            what = f"<{r['default']}> of type {r['default_type']!r}" if r["default"] else "(none)"
            problems.append(f"{how} the plugin, the defaultPrim {what} is neither Xformable nor a Scope")
        if r["errors"]:
            problems.append(f"UsdValidation {how} the plugin: {len(r['errors'])} errors, first: {r['errors'][:SHOW]}")
    return problems, worst


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        print(json.dumps(probe(sys.argv[2])))
        return
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    path = os.path.abspath(sys.argv[1])
    if not os.path.isfile(path):
        sys.exit(f"portable_stage: no stage file {path}")
    here = os.path.dirname(os.path.abspath(__file__))
    plugin = os.path.abspath(sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "..", "usd-schemas"))
    bare, plugged = run_probe(path, None), run_probe(path, plugin)
    problems, worst = compare(bare, plugged)
    print(json.dumps({
        "stage": path,
        "prims_compared": len(plugged["prims"]),
        "max_difference": worst,
        "default_prim": plugged["default"],
        "validators": plugged["validators"],
        "errors_without_plugin": len(bare["errors"]),
        "errors_with_plugin": len(plugged["errors"]),
        "warnings_without_plugin": len(bare["warnings"]),
        "warnings_with_plugin": len(plugged["warnings"]),
    }))
    if problems:
        sys.exit(f"portable_stage: {path} is not portable:\n- " + "\n- ".join(problems))


if __name__ == "__main__":
    main()
