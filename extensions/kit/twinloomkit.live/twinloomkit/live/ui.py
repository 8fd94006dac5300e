"""The panel of twinloomkit.live (only imported when ``omni.ui`` is available): the connection state and
counters, the service address with Connect / Drop / Disconnect, the study (stations to check) and the
what-if (model and scenario files), each button calling the same :class:`TwinloomLive` method Python does.
"""

from __future__ import annotations

from typing import Any

import omni.ui as ui

from .core import TwinloomKitError, TwinloomLive, _run_coroutine


class TwinloomWindow:
    """An ``omni.ui.Window`` over one :class:`TwinloomLive`."""

    def __init__(self, live: TwinloomLive) -> None:
        self._live = live
        self._window = ui.Window("Twinloom Live", width=420, height=360)
        with self._window.frame:
            with ui.VStack(spacing=4):
                with ui.HStack(height=22):
                    ui.Label("Service", width=70)
                    self._service = ui.StringField()
                    self._service.model.set_value(live.service or "")
                with ui.HStack(height=24):
                    ui.Button("Connect", clicked_fn=self._connect)
                    ui.Button("Drop (resume)", clicked_fn=live.drop_connection)
                    ui.Button("Disconnect", clicked_fn=live.disconnect)
                self._state = ui.Label("", height=40, word_wrap=True)
                ui.Separator(height=6)
                with ui.HStack(height=22):
                    ui.Label("Stations", width=70)
                    self._stations = ui.StringField()
                ui.Button("Run collision and reach study", height=24, clicked_fn=self._study)
                ui.Separator(height=6)
                with ui.HStack(height=22):
                    ui.Label("Model", width=70)
                    self._model = ui.StringField()
                with ui.HStack(height=22):
                    ui.Label("Scenario", width=70)
                    self._scenario = ui.StringField()
                ui.Button("Run what-if and open its layer", height=24, clicked_fn=self._whatif)
                self._result = ui.Label("", word_wrap=True)
        self._unsubscribe = live.subscribe(lambda _live: self._refresh())
        self._refresh()

    def _refresh(self) -> None:
        s = self._live.status()
        text = f"{s['state']}  seq {s['seq']}  deltas {s['deltas']}  edits {s['edits']}  reconnects {s['reconnects']}"
        if s["error"]:
            text += f"\n{s['error']}"
        self._state.text = text

    def _run(self, action: Any) -> None:
        try:
            self._result.text = action()
        except TwinloomKitError as e:
            self._result.text = f"failed: {e}"

    def _connect(self) -> None:
        self._run(lambda: (self._live.connect(self._service.model.get_value_as_string() or None), "connecting")[1])

    async def _run_async(self, coro: Any, done: Any) -> None:
        self._result.text = "running…"
        try:
            self._result.text = done(await coro)
        except TwinloomKitError as e:
            self._result.text = f"failed: {e}"

    def _study(self) -> None:
        names = [s.strip() for s in self._stations.model.get_value_as_string().split(",") if s.strip()]
        _run_coroutine(self._run_async(
            self._live.run_study_async(stations=names),
            lambda r: f"study ({r.via}): {r.clashes} clashes, {r.unreachable_points} unreachable points, "
            f"{len(r.markers)} markers",
        ))

    def _whatif(self) -> None:
        _run_coroutine(self._run_async(
            self._live.run_whatif_async(
                self._model.model.get_value_as_string(), self._scenario.model.get_value_as_string()),
            lambda r: f"what-if {r.name}: {r.baseline['throughput_per_h']['mean']:.1f} -> "
            f"{r.scenario['throughput_per_h']['mean']:.1f} jobs/h; layer {r.layer_path}",
        ))

    def destroy(self) -> None:
        self._unsubscribe()
        self._window.destroy()
        self._window = None
