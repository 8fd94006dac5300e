"""The panel's wiring, in a kernel without omni.ui: a stand-in ``omni.ui`` (windows, stacks, labels, string
fields, buttons that keep their ``clicked_fn``) is put in ``sys.modules`` for this test only, the panel is
built over the running engine, and its buttons are clicked: Connect with a closed port shows the error state,
the what-if button runs the what-if (awaited, the app not blocked) and shows its throughputs."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

from pxr import Usd

import twinloomkit.live as tl

from .helpers import REPO, TestCase, free_port, rmtree


class _Widget:
    def __init__(self, *args, **kwargs):
        self.text = args[0] if args and isinstance(args[0], str) else ""
        self.clicked_fn = kwargs.get("clicked_fn")
        self.kwargs = kwargs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def destroy(self):
        pass


class _Model:
    def __init__(self):
        self.value = ""

    def set_value(self, v):
        self.value = v

    def get_value_as_string(self):
        return self.value


class _StringField(_Widget):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = _Model()


class _Window(_Widget):
    def __init__(self, title, **kwargs):
        super().__init__(title, **kwargs)
        self.frame = _Widget()


def _fake_omni_ui():
    ui = types.ModuleType("omni.ui")
    ui.Window, ui.VStack, ui.HStack, ui.Label = _Window, _Widget, _Widget, _Widget
    ui.StringField, ui.Button, ui.Separator = _StringField, _Widget, _Widget
    return ui


class TestPanel(TestCase):
    async def test_panel_buttons_call_the_engine(self):
        import omni

        live = tl.get_instance()
        live.set_stage(Usd.Stage.CreateInMemory("panel.usda"))
        had = sys.modules.get("omni.ui")
        sys.modules["omni.ui"] = _fake_omni_ui()
        try:
            ui_module = importlib.reload(importlib.import_module("twinloomkit.live.ui"))
            window = ui_module.TwinloomWindow(live)
            # The fields and labels the buttons read and write.
            for name in ("_service", "_stations", "_model", "_scenario", "_state", "_result"):
                self.assertTrue(hasattr(window, name), name)

            window._service.model.set_value(f"127.0.0.1:{free_port()}")
            window._connect()
            self.assertTrue(await live.wait_until(lambda: live.state == "error", 30), live.status())
            self.assertIn("error", window._state.text)

            window._model.model.set_value(str(REPO / "samples" / "models" / "assembly_line.toml"))
            window._scenario.model.set_value(str(REPO / "samples" / "models" / "scenarios" / "faster_alignment.toml"))
            window._whatif()
            self.assertTrue(await live.wait_until(lambda: window._result.text.startswith("what-if"), 120),
                            window._result.text)
            self.assertIn("faster_alignment", window._result.text)
            self.assertTrue(Path(live.last_whatif.layer_path).is_file())
            window.destroy()
            rmtree(Path(live.last_whatif.layer_path).parent)  # the what-if's default (temporary) folder
        finally:
            live.disconnect()
            if had is None:
                sys.modules.pop("omni.ui", None)
            else:
                sys.modules["omni.ui"] = had
            if hasattr(omni, "ui") and had is None:
                delattr(omni, "ui")
