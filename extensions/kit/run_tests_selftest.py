"""A test that must fail (kept beside run_tests.py, not in a folder: Kit takes every folder of --ext-folder for
an extension): ci/kit-test runs it through run_tests.py and checks the runner then exits non-zero
and reports ``0 passed, 1 failed`` (so a failing extension test fails ci/test)."""

import asyncio
import unittest


class MustFail(unittest.TestCase):
    async def test_fails_on_kits_loop(self):
        await asyncio.sleep(0.01)
        self.assertEqual(1, 2, "this failure is expected")
