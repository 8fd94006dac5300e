"""Every ```python example of docs/kit.md runs in the Kit kernel (in order, in one namespace, from the
repository root, top-level ``await`` allowed as in Kit's Script Editor), against a ``twinloom demo`` on a free
loopback port named to the examples in ``TWINLOOM_SERVICE``, so the page cannot show code that does not work."""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import tempfile
from pathlib import Path

from .helpers import REPO, Demo, TestCase, plant_layout, rmtree

DOC = REPO / "docs" / "kit.md"


class TestDocs(TestCase):
    async def test_every_python_example_of_kit_md_runs(self):
        blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
        self.assertGreaterEqual(len(blocks), 3)
        tmp = Path(tempfile.mkdtemp(prefix="twinloomkit-docs-"))
        demo = Demo(tmp / "demo")
        saved = {k: os.environ.get(k) for k in ("TWINLOOM_SERVICE", "TWINLOOM_PLANT_LAYOUT")}
        cwd = os.getcwd()
        os.environ["TWINLOOM_SERVICE"] = demo.address
        os.environ["TWINLOOM_PLANT_LAYOUT"] = str(plant_layout())
        namespace: dict = {"__name__": "kit_md"}
        out = io.StringIO()
        try:
            os.chdir(REPO)
            for i, block in enumerate(blocks, 1):
                code = compile(block, f"docs/kit.md example {i}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                with contextlib.redirect_stdout(out):
                    result = eval(code, namespace)
                    if inspect.iscoroutine(result):
                        await result
            live = namespace["live"]
            self.assertGreaterEqual(namespace["study"].clashes, 1)
            self.assertTrue(Path(namespace["whatif"].layer_path).is_file())
            self.assertIn("'state': 'connected'", out.getvalue())
            live.disconnect()
        finally:
            os.chdir(cwd)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            demo.stop()
            rmtree(tmp)
            if isinstance(namespace.get("work"), Path):
                rmtree(namespace["work"])  # the study example's folder
            if namespace.get("whatif") is not None:
                rmtree(Path(namespace["whatif"].layer_path).parent)  # the what-if's temporary folder
