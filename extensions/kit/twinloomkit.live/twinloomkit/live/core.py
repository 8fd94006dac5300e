"""The extension's engine, free of Kit: :class:`TwinloomLive` keeps a USD stage in step with a Twinloom service's
live stream and runs Twinloom's analytics on it.

- **Live**: a :class:`twinloom.live.LiveClient` (the ``twinloom`` wheel) applies snapshots and deltas to one
  anonymous ``Sdf.Layer`` per shop; each layer is a sublayer of the stage's *session* layer, so the plant's
  own layers are never written. Following runs as an asyncio task on the app's loop (Kit's loop inside Kit):
  each turn reads the stream for at most ``slice_seconds`` and yields, so the app keeps updating. A dropped
  connection is resumed by the client (``since``/``epoch``: no gap, no new snapshots).
- **Study**: the body-in-white collision and reach study of the stage (``twinloom analyze biw``): through the
  wheel when it has a stage study (``twinloom.biw.study_stage``), else through the ``twinloom`` CLI; its
  clashes and unreachable weld points become ``Sphere`` markers in a session sublayer of their own.
- **What-if**: a line simulation of a flow model with and without a scenario (``twinloom.FlowModel``); the
  comparison is written as a sibling layer (never into the plant) and opened as a session sublayer.

pxr is the app's (Kit's own USD) or usd-core's; nothing here imports omni.*, so it also runs in plain Python.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from pxr import Gf, Sdf, Usd, UsdGeom, Vt

import twinloom
from twinloom import live as twinloom_live

__all__ = [
    "STATES",
    "Marker",
    "StudyResult",
    "TwinloomKitError",
    "TwinloomLive",
    "WhatIfResult",
]

#: Connection states, in :attr:`TwinloomLive.state`.
STATES = ("disconnected", "connecting", "connected", "reconnecting", "closed", "error")

#: Where study markers go (in the study layer, a session sublayer).
MARKER_ROOT = "/Plant/Results/TwinloomKit"
#: Where what-if results go (in the what-if's own layer).
WHATIF_ROOT = "/Plant/Results/WhatIf"



def wheel_study():
    """The wheel's stage study (``twinloom.biw.study_stage``: the stage read with the app's own ``pxr``,
    the study in Rust), or None with a wheel that has none (the extension then runs the ``twinloom`` CLI)."""
    try:
        from twinloom import biw
    except ImportError:
        return None
    return getattr(biw, "study_stage", None)

class TwinloomKitError(RuntimeError):
    """An action could not run: no stage on disk, the study failed, a model or scenario is wrong, …"""


@dataclass
class Marker:
    """One marker the study put on the stage."""

    path: str  #: the marker prim
    kind: str  #: ``clash``, ``near_miss`` or ``unreachable``
    station: str
    robot: str
    what: str  #: the obstacle (``Body/BPillarReinforcement``) or the weld point's id
    position: tuple  #: world position, metres


@dataclass
class StudyResult:
    """What :meth:`TwinloomLive.run_study` found: the study's JSON report (as ``twinloom analyze biw --json``
    prints it), how it ran, and the markers put on the stage."""

    report: Dict[str, Any]
    via: str  #: ``wheel`` or ``cli``
    stage_path: str
    markers: List[Marker] = field(default_factory=list)

    @property
    def clashes(self) -> int:
        return int(self.report.get("clashes", 0))

    @property
    def unreachable_points(self) -> int:
        return int(self.report.get("unreachable_points", 0))


@dataclass
class WhatIfResult:
    """What :meth:`TwinloomLive.run_whatif` computed: the simulation of the model alone (``baseline``) and with
    the scenario merged (``scenario``), as the wheel's dicts, and the sibling layer written and opened."""

    name: str
    baseline: Dict[str, Any]
    scenario: Dict[str, Any]
    layer_path: str
    layer: Any

    @property
    def throughput_change_per_h(self) -> float:
        return self.scenario["throughput_per_h"]["mean"] - self.baseline["throughput_per_h"]["mean"]


def _valid_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


class TwinloomLive:
    """Follows a Twinloom service into a stage and runs the analytics on it.

    ``stage``: the stage to keep current (inside Kit, the app's open stage); ``None`` makes an in-memory one.
    ``service``: ``HOST:PORT`` or ``ws://HOST:PORT/v1/live``. ``token``: bearer token. ``slice_seconds``: how long
    one turn of the follower may read the stream before it yields to the app. ``cli``: the ``twinloom`` CLI for
    the study when the wheel has no stage study. ``retries``: reconnect attempts in a row after a drop (awaited
    0.4 s … 5 s apart, the app running meanwhile; then the state is ``error``).
    """

    def __init__(
        self,
        stage: Any = None,
        service: Optional[str] = None,
        *,
        token: Optional[str] = None,
        slice_seconds: float = 0.02,
        cli: Optional[str] = None,
        retries: int = 20,
    ) -> None:
        self._stage = stage if stage is not None else Usd.Stage.CreateInMemory("twinloom-live.usda")
        self.service = service or None
        self.token = token or None
        self.slice_seconds = float(slice_seconds) if slice_seconds and slice_seconds > 0 else 0.02
        self.cli = cli or None
        self.retries = int(retries)
        self.client: Optional[twinloom_live.LiveClient] = None
        self.live_layers: Dict[str, Any] = {}
        self.state = "disconnected"
        self.error: Optional[str] = None
        self.study_layer: Any = None
        self.whatif_layers: List[Any] = []
        self.last_study: Optional[StudyResult] = None
        self.last_whatif: Optional[WhatIfResult] = None
        self._task: Optional[asyncio.Future] = None
        self._stop = False
        self._listeners: List[Callable[["TwinloomLive"], None]] = []

    # -- state ----------------------------------------------------------------------------------------
    @property
    def stage(self) -> Any:
        """The stage kept current."""
        return self._stage

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def status(self) -> Dict[str, Any]:
        """The connection state and the client's counters (for a panel or a log)."""
        c = self.client
        return {
            "state": self.state,
            "error": self.error,
            "service": self.service,
            "shops": sorted(self.live_layers),
            "seq": c.seq if c else None,
            "epoch": c.epoch if c else None,
            "deltas": c.deltas_seen if c else 0,
            "edits": c.edits if c else 0,
            "snapshots": c.snapshots if c else 0,
            "reconnects": c.reconnects if c else 0,
            "resyncs": c.resyncs if c else 0,
            "gaps": c.gaps if c else 0,
        }

    def subscribe(self, listener: Callable[["TwinloomLive"], None]) -> Callable[[], None]:
        """Calls ``listener(self)`` on every state change and after each turn that applied deltas; returns a
        function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _set_state(self, state: str, error: Optional[str] = None) -> None:
        changed = state != self.state or error != self.error
        self.state, self.error = state, error
        if changed:
            self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self)
            except Exception:  # a panel's fault must not stop the follower
                pass

    # -- the stage ------------------------------------------------------------------------------------
    def set_stage(self, stage: Any) -> None:
        """Keeps ``stage`` current from now on: the live, study and what-if layers move to its session layer."""
        old = self._stage
        layers = list(self.live_layers.values()) + [self.study_layer] + self.whatif_layers
        for layer in layers:
            if layer is not None and old is not None:
                _remove_sublayer(old.GetSessionLayer(), layer)
        self._stage = stage
        for layer in self.whatif_layers:
            _add_sublayer(stage.GetSessionLayer(), layer, strongest=False)
        for layer in self.live_layers.values():
            _add_sublayer(stage.GetSessionLayer(), layer, strongest=False)
        if self.study_layer is not None:
            _add_sublayer(stage.GetSessionLayer(), self.study_layer, strongest=True)

    def open_stage(self, path: str) -> Any:
        """Opens ``path`` and keeps it current (outside Kit; inside Kit open it in the app instead)."""
        stage = Usd.Stage.Open(str(path))
        if stage is None:
            raise TwinloomKitError(f"cannot open stage {path}")
        self.set_stage(stage)
        return stage

    def _layer_for(self, shop: str) -> Any:
        layer = self.live_layers.get(shop)
        if layer is None:
            layer = Sdf.Layer.CreateAnonymous(f"twinloom-live-{shop}.usdc")
            self.live_layers[shop] = layer
            _add_sublayer(self._stage.GetSessionLayer(), layer, strongest=False)
        return layer

    # -- following ------------------------------------------------------------------------------------
    def connect(self, service: Optional[str] = None, *, token: Optional[str] = None) -> asyncio.Future:
        """Starts following ``service`` (or the configured one) on the running asyncio loop (Kit's); returns
        the follower's task. Raises :class:`TwinloomKitError` if no service is configured."""
        if service:
            self.service = service
        if token is not None:
            self.token = token or None
        if not self.service:
            raise TwinloomKitError("no Twinloom service configured (setting /exts/twinloomkit.live/service)")
        self.disconnect()
        self._stop = False
        try:
            # retries=0: the client raises at once when a connection is lost; the follower retries itself,
            # awaiting between attempts, so the app never blocks on a reconnect.
            self.client = twinloom_live.LiveClient(
                self.service, self._layer_for, token=self.token, timeout=10.0, retries=0
            )
        except twinloom.TwinloomError as e:
            self._set_state("error", str(e))
            raise TwinloomKitError(str(e)) from e
        self._set_state("connecting")
        self._task = _run_coroutine(self._follow())
        return self._task

    async def _follow(self) -> None:
        client = self.client
        assert client is not None
        attempts = 0
        while not self._stop and client is self.client:
            was = client.reconnects
            try:
                n = client.follow(seconds=self.slice_seconds, max_deltas=10_000)
                attempts = 0
            except twinloom_live.LiveConnectionError as e:
                if client.hello is None or attempts >= self.retries:  # never connected, or given up
                    self._set_state("error", str(e))
                    return
                attempts += 1
                self._set_state("reconnecting", str(e))
                await asyncio.sleep(min(0.25 * 1.5**attempts, 5.0))
                continue
            except Exception as e:  # a protocol fault, an edit pxr refused: stop, say why
                self._set_state("error", f"{type(e).__name__}: {e}")
                return
            if client.closed:
                self._set_state("closed")
                return
            if client.reconnects != was:
                self._set_state("connected")
            elif self.state in ("connecting", "reconnecting") and client.hello is not None:
                self._set_state("connected")
            if n:
                self._notify()
            await asyncio.sleep(0 if n else 0.005)

    def drop_connection(self) -> None:
        """Cuts the connection as a network fault would; the follower resumes after the last delta."""
        if self.client is not None:
            self.client.disconnect()
            self._set_state("reconnecting")

    def disconnect(self) -> None:
        """Stops following and closes the connection (the live layers stay as they are)."""
        self._stop = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        if self.client is not None:
            try:
                self.client.close()
            except OSError:
                pass
        if self.state not in ("disconnected", "error", "closed"):
            self._set_state("disconnected")

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Awaits (letting the app and the follower run) until ``predicate()`` or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return bool(predicate())

    def shutdown(self) -> None:
        """Stops following and takes every layer of this extension out of the stage."""
        self.disconnect()
        session = self._stage.GetSessionLayer()
        for layer in list(self.live_layers.values()) + [self.study_layer] + self.whatif_layers:
            if layer is not None:
                _remove_sublayer(session, layer)
        self._listeners.clear()

    # -- the collision and reach study ----------------------------------------------------------------
    def stage_path(self) -> str:
        """A file the study can read for the current stage: its root layer if saved, else a flattened export
        in a temporary folder."""
        root = self._stage.GetRootLayer()
        if not root.anonymous and root.realPath and not root.dirty:
            return root.realPath
        tmp = Path(tempfile.mkdtemp(prefix="twinloomkit-stage-"))
        path = tmp / "plant.usda"
        if not self._stage.Export(str(path)):
            raise TwinloomKitError("cannot export the current stage for the study")
        return str(path)

    def run_study(
        self,
        stage_path: Optional[str] = None,
        stations: Sequence[str] = (),
        *,
        near_miss_mm: float = 10.0,
        spin_tolerance_deg: float = 30.0,
    ) -> StudyResult:
        """Runs the collision and reach study (``twinloom analyze biw``) on the current stage (or
        ``stage_path``), only ``stations`` if given, and puts a ``Sphere`` marker on the stage for every clash,
        near miss and unreachable weld point (in a session sublayer; the plant is not written)."""
        path = stage_path or self.stage_path()
        report, via = self._study_report(path, stations, near_miss_mm, spin_tolerance_deg)
        return self._study_done(report, via, path)

    async def run_study_async(
        self,
        stage_path: Optional[str] = None,
        stations: Sequence[str] = (),
        *,
        near_miss_mm: float = 10.0,
        spin_tolerance_deg: float = 30.0,
    ) -> StudyResult:
        """:meth:`run_study` without freezing the app: the study runs on a worker thread (the wheel releases
        the GIL; the CLI is a process of its own); the stage is read and marked on the loop's thread."""
        path = stage_path or self.stage_path()
        loop = asyncio.get_running_loop()
        report, via = await loop.run_in_executor(
            None, self._study_report, path, list(stations), near_miss_mm, spin_tolerance_deg
        )
        return self._study_done(report, via, path)

    def _study_report(self, path: str, stations: Sequence[str], near_miss_mm: float, spin: float) -> tuple:
        native = wheel_study()
        if native is not None:
            try:
                study = native(path, stations=list(stations) or None, near_miss_mm=near_miss_mm,
                               spin_tolerance_deg=spin)
            except twinloom.TwinloomError as e:
                raise TwinloomKitError(f"study of {path}: {e}") from e
            return study.report, "wheel"
        return self._study_cli(path, stations, near_miss_mm, spin), "cli"

    def _study_done(self, report: Dict[str, Any], via: str, path: str) -> StudyResult:
        result = StudyResult(report=report, via=via, stage_path=str(path))
        result.markers = self._put_markers(report, path)
        self.last_study = result
        self._notify()
        return result

    def _cli(self) -> str:
        for cand in (self.cli, os.environ.get("TWINLOOM_CLI"), shutil.which("twinloom")):
            if cand and Path(cand).is_file():
                return cand
        raise TwinloomKitError(
            "the twinloom wheel has no stage study and no twinloom CLI was found "
            "(setting /exts/twinloomkit.live/cli, or TWINLOOM_CLI)"
        )

    def _study_cli(self, path: str, stations: Sequence[str], near_miss_mm: float, spin: float) -> Dict[str, Any]:
        # The CLI also writes results.usda; the extension makes its own markers, so that file is thrown away.
        with tempfile.TemporaryDirectory(prefix="twinloomkit-study-") as out_dir:
            args = [self._cli(), "analyze", "biw", "--stage", str(path), "--json", "--gpu", "auto",
                    "--near-miss-mm", str(near_miss_mm), "--spin-tolerance-deg", str(spin),
                    "--out", str(Path(out_dir) / "results.usda")]
            for s in stations:
                args += ["--station", s]
            proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode not in (0, 1):  # 1: findings
            raise TwinloomKitError(f"study of {path} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        try:
            return json.loads(proc.stdout)
        except ValueError as e:
            raise TwinloomKitError(f"study of {path}: unreadable report: {e}") from e

    def _put_markers(self, report: Dict[str, Any], path: str) -> List[Marker]:
        stage = self._stage
        session = stage.GetSessionLayer()
        if self.study_layer is None:
            self.study_layer = Sdf.Layer.CreateAnonymous("twinloom-study.usda")
            _add_sublayer(session, self.study_layer, strongest=True)
        layer = self.study_layer
        layer.Clear()
        # Weld positions from the stage the study read (the current one, unless another path was given).
        source = stage
        if path and os.path.realpath(path) != os.path.realpath(stage.GetRootLayer().realPath or ""):
            source = Usd.Stage.Open(str(path)) or stage
        cache = UsdGeom.XformCache()
        markers: List[Marker] = []
        with Usd.EditContext(stage, layer):
            UsdGeom.Scope.Define(stage, MARKER_ROOT)
            for st in report.get("stations", []):
                station = st.get("name", "Station")
                base = f"{MARKER_ROOT}/{_valid_name(station)}"
                UsdGeom.Scope.Define(stage, base)
                for i, ev in enumerate(st.get("events", []), 1):
                    kind = ev.get("kind", "clash")
                    pos = tuple(float(x) for x in ev.get("point_m", (0.0, 0.0, 0.0)))
                    name = f"{'Clash' if kind == 'clash' else 'NearMiss'}_{i:02d}"
                    color = (0.9, 0.05, 0.05) if kind == "clash" else (0.95, 0.6, 0.05)
                    prim = self._sphere(stage, f"{base}/{name}", pos, 0.04, color)
                    prim.CreateAttribute("twinloom:study:kind", Sdf.ValueTypeNames.Token, custom=True).Set(kind)
                    prim.CreateAttribute("twinloom:study:robot", Sdf.ValueTypeNames.String, custom=True).Set(
                        ev.get("robot", ""))
                    prim.CreateAttribute("twinloom:study:other", Sdf.ValueTypeNames.String, custom=True).Set(
                        ev.get("other", ""))
                    prim.CreateAttribute("twinloom:study:depthMm", Sdf.ValueTypeNames.Double, custom=True).Set(
                        float(ev.get("depth_mm") or 0.0))
                    prim.CreateAttribute("twinloom:study:clearanceMm", Sdf.ValueTypeNames.Double, custom=True).Set(
                        float(ev.get("clearance_mm") or 0.0))
                    markers.append(Marker(f"{base}/{name}", kind, station, ev.get("robot", ""), ev.get("other", ""), pos))
                for robot in st.get("robots", []):
                    for p in robot.get("points", []):
                        if p.get("reachable", True):
                            continue
                        weld = source.GetPrimAtPath(p.get("prim", "")) if p.get("prim") else None
                        pos = (0.0, 0.0, 0.0)
                        if weld:
                            t = cache.GetLocalToWorldTransform(weld).ExtractTranslation()
                            pos = (t[0], t[1], t[2])
                        name = f"Unreachable_{_valid_name(p.get('id', 'point'))}"
                        prim = self._sphere(stage, f"{base}/{name}", pos, 0.03, (0.6, 0.1, 0.9))
                        prim.CreateAttribute("twinloom:study:kind", Sdf.ValueTypeNames.Token, custom=True).Set(
                            "unreachable")
                        prim.CreateAttribute("twinloom:study:robot", Sdf.ValueTypeNames.String, custom=True).Set(
                            robot.get("name", ""))
                        prim.CreateAttribute("twinloom:study:point", Sdf.ValueTypeNames.String, custom=True).Set(
                            p.get("id", ""))
                        prim.CreateAttribute("twinloom:study:outsideMm", Sdf.ValueTypeNames.Double, custom=True).Set(
                            float(p.get("outside_mm") or 0.0))
                        markers.append(
                            Marker(f"{base}/{name}", "unreachable", station, robot.get("name", ""), p.get("id", ""), pos))
        return markers

    @staticmethod
    def _sphere(stage: Any, path: str, pos: tuple, radius: float, color: tuple) -> Any:
        sphere = UsdGeom.Sphere.Define(stage, path)
        sphere.CreateRadiusAttr(radius)
        sphere.CreateDisplayColorAttr(Vt.Vec3fArray([Gf.Vec3f(*color)]))
        UsdGeom.XformCommonAPI(sphere).SetTranslate(Gf.Vec3d(*pos))
        return sphere.GetPrim()

    # -- the flow what-if -----------------------------------------------------------------------------
    def run_whatif(
        self,
        model: str,
        scenario: str,
        *,
        replications: int = 10,
        seed: int = 1,
        out: Optional[str] = None,
    ) -> WhatIfResult:
        """Simulates the line of flow model ``model`` (TOML, docs/flow.md) alone and with ``scenario`` merged
        (through the wheel, the GIL released), writes the comparison as a sibling layer (``out``, default
        ``whatif-<scenario>.usda`` in a temporary folder; never a layer of the stage) and opens it as a
        session sublayer. The layer holds ``/Plant/Results/WhatIf/<scenario>`` with the throughputs, the
        bottlenecks and per-station utilisation."""
        base, alt = self._simulate(model, scenario, replications, seed)
        return self._whatif_done(model, scenario, replications, seed, out, base, alt)

    async def run_whatif_async(
        self,
        model: str,
        scenario: str,
        *,
        replications: int = 10,
        seed: int = 1,
        out: Optional[str] = None,
    ) -> WhatIfResult:
        """:meth:`run_whatif` without freezing the app: the simulations run on a worker thread (the wheel
        releases the GIL); the layer is written and opened on the loop's thread."""
        loop = asyncio.get_running_loop()
        base, alt = await loop.run_in_executor(None, self._simulate, model, scenario, replications, seed)
        return self._whatif_done(model, scenario, replications, seed, out, base, alt)

    @staticmethod
    def _simulate(model: str, scenario: str, replications: int, seed: int) -> tuple:
        try:
            base = twinloom.FlowModel.load(model).simulate(replications=replications, seed=seed)
            alt = twinloom.FlowModel.load(model, scenario).simulate(replications=replications, seed=seed)
        except twinloom.TwinloomError as e:
            raise TwinloomKitError(f"what-if {scenario} over {model}: {e}") from e
        return base, alt

    def _whatif_done(
        self, model: str, scenario: str, replications: int, seed: int, out: Optional[str], base: Dict[str, Any],
        alt: Dict[str, Any],
    ) -> WhatIfResult:
        name = _valid_name(Path(scenario).stem)
        path = Path(out) if out else Path(tempfile.mkdtemp(prefix="twinloomkit-whatif-")) / f"whatif-{name}.usda"
        stage_layers = {os.path.realpath(l.realPath) for l in self._stage.GetLayerStack() if l.realPath}
        if os.path.realpath(path) in stage_layers:
            raise TwinloomKitError(f"{path} is a layer of the stage: a what-if never writes to the plant")
        layer = Sdf.Layer.FindOrOpen(str(path)) if path.exists() else None
        if layer is None:
            layer = Sdf.Layer.CreateNew(str(path))
        else:
            layer.Clear()
        layer.customLayerData = {"twinloom:whatif": {"model": str(model), "scenario": str(scenario),
                                                     "replications": int(replications), "seed": int(seed)}}
        prim = Sdf.CreatePrimInLayer(layer, f"{WHATIF_ROOT}/{name}")
        prim.specifier = Sdf.SpecifierDef
        prim.typeName = "Scope"
        for p in (Sdf.Path("/Plant"), Sdf.Path("/Plant/Results"), Sdf.Path(WHATIF_ROOT)):
            layer.GetPrimAtPath(p).specifier = Sdf.SpecifierOver

        def put(spec, attr, typ, value):
            a = Sdf.AttributeSpec(spec, attr, typ, Sdf.VariabilityUniform)
            a.custom = True
            a.default = value

        put(prim, "twinloom:whatif:baselineThroughputPerH", Sdf.ValueTypeNames.Double, base["throughput_per_h"]["mean"])
        put(prim, "twinloom:whatif:throughputPerH", Sdf.ValueTypeNames.Double, alt["throughput_per_h"]["mean"])
        put(prim, "twinloom:whatif:baselineBottleneck", Sdf.ValueTypeNames.String, str(base.get("bottleneck") or ""))
        put(prim, "twinloom:whatif:bottleneck", Sdf.ValueTypeNames.String, str(alt.get("bottleneck") or ""))
        for st in alt.get("stations", []):
            sp = Sdf.CreatePrimInLayer(layer, f"{WHATIF_ROOT}/{name}/{_valid_name(st['name'])}")
            sp.specifier = Sdf.SpecifierDef
            sp.typeName = "Scope"
            put(sp, "twinloom:whatif:utilisation", Sdf.ValueTypeNames.Double, st["utilisation"]["mean"])
            put(sp, "twinloom:whatif:blocked", Sdf.ValueTypeNames.Double, st["blocked"]["mean"])
            put(sp, "twinloom:whatif:starved", Sdf.ValueTypeNames.Double, st["starved"]["mean"])
        if not layer.Save():
            raise TwinloomKitError(f"cannot write {path}")
        if layer not in self.whatif_layers:
            self.whatif_layers.append(layer)
            _add_sublayer(self._stage.GetSessionLayer(), layer, strongest=False)
        result = WhatIfResult(name=name, baseline=base, scenario=alt, layer_path=str(path), layer=layer)
        self.last_whatif = result
        self._notify()
        return result


def _add_sublayer(session: Any, layer: Any, *, strongest: bool) -> None:
    paths = session.subLayerPaths
    if layer.identifier in list(paths):
        return
    if strongest:
        paths.insert(0, layer.identifier)
    else:
        paths.append(layer.identifier)


def _remove_sublayer(session: Any, layer: Any) -> None:
    paths = session.subLayerPaths
    if layer.identifier in list(paths):
        paths.remove(layer.identifier)


def _run_coroutine(coro: Any) -> asyncio.Future:
    """Schedules ``coro`` on Kit's loop (omni.kit.async_engine) when inside Kit, else on asyncio's."""
    try:
        import omni.kit.async_engine as engine  # type: ignore[import-not-found]

        return engine.run_coroutine(coro)
    except ImportError:
        return asyncio.ensure_future(coro)
