"""Runs an extension's tests in a real Kit kernel without omni.kit.test (which comes from NVIDIA's extension
registry): starts Kit headless from the ``omniverse-kit`` package (``--/app/runWithoutRunloop=true
--/app/fastShutdown=false``), adds the extension folder, enables the extension, loads the tests with unittest,
runs each test (``async def`` tests, setUp and tearDown awaited on Kit's own loop while Kit updates), prints one
line per test and then ``N passed, N failed`` (``, N skipped`` when some were), and exits 1 when a test failed
or none ran.

Usage (the venv's Python, with omniverse-kit, pxr and the twinloom wheel installed; ci/kit-test does it)::

    OMNI_KIT_ACCEPT_EULA=yes OMNI_KIT_ALLOW_ROOT=1 python extensions/kit/run_tests.py \
        [--ext-folder extensions/kit] [--enable twinloomkit.live] [--tests twinloomkit.live.tests] \
        [--path DIR] [--pattern SUBSTRING] [--timeout S] [-- KIT ARGS...]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
import time
import traceback
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
# No __pycache__ folders beside the extensions: Kit would take each for an extension without a config.
sys.dont_write_bytecode = True


def main() -> int:
    global TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ext-folder", default=str(HERE), help="folder holding the extension (default: this one)")
    ap.add_argument("--enable", default="twinloomkit.live", help="extension to enable ('' for none)")
    ap.add_argument("--tests", default="twinloomkit.live.tests", help="module to load the tests from")
    ap.add_argument("--path", action="append", default=[], help="prepend to sys.path (repeatable)")
    ap.add_argument("--pattern", default="", help="run only tests whose id contains this")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per test (default 600)")
    ap.add_argument("kit_args", nargs="*", help="more Kit arguments (after --)")
    args = ap.parse_args()
    TIMEOUT = args.timeout
    os.environ.setdefault("OMNI_KIT_ACCEPT_EULA", "yes")

    from omni.kit_app import KitApp  # the omniverse-kit package (needs the EULA variable above)

    t0 = time.monotonic()
    app = KitApp()
    kit_args = ["--/app/runWithoutRunloop=true", "--/app/fastShutdown=false", "--no-window",
                "--ext-folder", str(Path(args.ext_folder).resolve())]
    for ext in ["omni.kit.async_engine"] + ([args.enable] if args.enable else []):
        kit_args += ["--enable", ext]
    app.startup(kit_args + list(args.kit_args))
    for _ in range(5):
        app.update()
    print(f"kit: started in {time.monotonic() - t0:.1f} s", flush=True)

    import omni.kit.app

    kit = omni.kit.app.get_app()
    status = 1
    try:
        if args.enable and not kit.get_extension_manager().is_extension_enabled(args.enable):
            print(f"kit: extension {args.enable} is not enabled (see the Kit log)", flush=True)
            print("0 passed, 1 failed", flush=True)
            return 1
        status = run_tests(app, args)
    finally:
        sys.stdout.flush()
        rc = app.shutdown()
        if rc:
            print(f"kit: shutdown returned {rc}", flush=True)
    return status


#: Seconds one test may take (``--timeout``).
TIMEOUT = 600.0


def on_kit_loop(app, coro):
    """Awaits ``coro`` on Kit's asyncio loop (omni.kit.async_engine), updating Kit until it is done; fails
    after ``TIMEOUT`` seconds. Without the async engine (not enabled) the coroutine runs on a plain loop."""
    try:
        import omni.kit.async_engine as engine
    except ImportError:
        return asyncio.new_event_loop().run_until_complete(asyncio.wait_for(coro, TIMEOUT))
    fut = engine.run_coroutine(coro)
    deadline = time.monotonic() + TIMEOUT
    while not fut.done():
        if time.monotonic() > deadline:
            fut.cancel()
            raise TimeoutError(f"the test did not finish in {TIMEOUT:g} s")
        app.update()
    return fut.result()


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


def run_tests(app, args) -> int:
    for p in reversed(args.path):
        sys.path.insert(0, str(Path(p).resolve()))
    loader = unittest.TestLoader()
    try:
        suite = loader.loadTestsFromName(args.tests)
    except Exception:
        traceback.print_exc()
        print("0 passed, 1 failed", flush=True)
        return 1
    tests = [t for t in flatten(suite) if args.pattern in t.id()]
    passed = failed = skipped = 0
    for test in tests:
        # Async test methods, setUp and tearDown run on Kit's loop (as omni.kit.test's AsyncTestCase does).
        for name in (test._testMethodName, "setUp", "tearDown"):
            fn = getattr(test, name, None)
            if fn is not None and inspect.iscoroutinefunction(fn):
                setattr(test, name, (lambda f: lambda: on_kit_loop(app, f()))(fn))
        result = unittest.TestResult()
        t0 = time.monotonic()
        test.run(result)
        dt = time.monotonic() - t0
        problems = result.failures + result.errors + [(t, "unexpected success") for t in result.unexpectedSuccesses]
        if problems:
            failed += 1
            print(f"FAIL {test.id()} ({dt:.1f} s)", flush=True)
            for _, text in problems:
                print(text, flush=True)
        elif result.skipped:
            skipped += 1
            print(f"skip {test.id()}: {result.skipped[0][1]}", flush=True)
        else:
            passed += 1
            print(f"ok   {test.id()} ({dt:.1f} s)", flush=True)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line, flush=True)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
