"""Tests of twinloomkit.live, run in a real Kit kernel: by extensions/kit/run_tests.py (ci/kit-test, offline)
or by Kit's own omni.kit.test (docs/kit.md). They start the real ``twinloom`` CLI (``$TWINLOOM_CLI``, else the
repository's target/debug/twinloom) on free loopback ports."""

from .test_live import *  # noqa: F401,F403
from .test_actions import *  # noqa: F401,F403
from .test_docs import *  # noqa: F401,F403
from .test_ui import *  # noqa: F401,F403
