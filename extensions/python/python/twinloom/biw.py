"""The collision and reach study of a BIW plant stage, from Python (``twinloom analyze biw --stage``).

A pure-Python stage reader with the caller's ``pxr`` (Pixar's usd-core, or the ``pxr`` a Kit app brings;
the wheel does not depend on either) reads what ``twinloom-biw-stage`` reads (docs/biw.md): every prim with
``TwinloomStationAPI`` holding ``TwinloomRobotAPI`` robots; per robot its OPW parameters
(``twinloom:opw:*``), joint limits, home pose, base and tool frames and link meshes (a child named
``Link1``…``Link6`` starts that link's frame); the station's other meshes (body, fixtures, …) in the world
frame; its weld points (``twinloom:weld:approach``, ``:index``, ``:robot``). Transforms come from
``UsdGeom.XformCache``. The plain data (numpy arrays) goes to the Rust study (``twinloom._native``): weld
programs with reach verdicts and the base-shift suggestion, then the collision study on the CPU, with the
interpreter released.

>>> result = study_stage("plant.usda", stations=["Station01"])   # doctest: +SKIP
>>> [(c.robot, c.part, c.depth_mm) for c in result.clashes]       # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import InvalidInputError

__all__ = [
    "Clash",
    "NearMiss",
    "UnreachablePoint",
    "BaseShiftFix",
    "StageStudy",
    "read_stations",
    "study_stage",
]

STATION_API = "TwinloomStationAPI"
ROBOT_API = "TwinloomRobotAPI"
_OPW = ("a1", "a2", "b", "c1", "c2", "c3", "c4")


@dataclass(frozen=True)
class Clash:
    """A robot link penetrating a part (or another robot) along its weld program."""

    station: str
    robot: str
    link: str
    #: The other thing, named by its path below the station (e.g. ``Body/BPillarReinforcement``).
    part: str
    depth_mm: float
    start_s: float
    end_s: float
    worst_s: float
    #: World position of the worst sample's contact (m).
    point_m: Tuple[float, float, float]


@dataclass(frozen=True)
class NearMiss:
    """A robot link passing closer than the near-miss threshold to a part."""

    station: str
    robot: str
    link: str
    part: str
    clearance_mm: float
    start_s: float
    end_s: float
    worst_s: float
    point_m: Tuple[float, float, float]


@dataclass(frozen=True)
class UnreachablePoint:
    """A weld point its robot cannot reach with its approach direction; ``outside_mm`` is ``None`` when it is
    out of reach in any pose with that approach."""

    station: str
    robot: str
    point: str
    prim: str
    outside_mm: Optional[float]


@dataclass(frozen=True)
class BaseShiftFix:
    """The smallest base shift (world x, y, z, mm) that makes all of a robot's points reachable, or
    ``found=False`` when none within ``search_half_mm`` per axis does."""

    station: str
    robot: str
    found: bool
    shift_mm: Optional[Tuple[float, float, float]]
    norm_mm: Optional[float]
    search_half_mm: float


@dataclass(frozen=True)
class StageStudy:
    """The outcome of :func:`study_stage`; ``report`` is the dict with the keys of ``twinloom analyze biw
    --json`` (without its timings, ``stage``, ``results`` and ``markers``)."""

    clashes: List[Clash]
    near_misses: List[NearMiss]
    unreachable: List[UnreachablePoint]
    base_shifts: List[BaseShiftFix]
    report: Dict[str, Any] = field(repr=False)


def _pxr():
    try:
        from pxr import Usd, UsdGeom  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InvalidInputError(
            "twinloom.biw needs pxr (Pixar's usd-core, or a Kit app's own USD) to read a stage"
        ) from e
    return Usd, UsdGeom


def _has_api(prim, name: str) -> bool:
    # GetAppliedSchemas() drops schemas that are not registered; the composed list op keeps them.
    ops = prim.GetMetadata("apiSchemas")
    return bool(ops) and name in ops.GetAddedOrExplicitItems()


def _col(m) -> np.ndarray:
    """A Gf.Matrix4d (row vectors, translation in the last row) as a 4x4 column-vector pose."""
    return np.array(m, dtype=np.float64).reshape(4, 4).T.copy()


def _local(UsdGeom, prim) -> np.ndarray:
    if prim.IsA(UsdGeom.Xformable):
        return _col(UsdGeom.Xformable(prim).GetLocalTransformation())
    return np.eye(4)


def _mesh(UsdGeom, prim) -> Dict[str, np.ndarray]:
    m = UsdGeom.Mesh(prim)
    points = m.GetPointsAttr().Get()
    counts = m.GetFaceVertexCountsAttr().Get()
    indices = m.GetFaceVertexIndicesAttr().Get()
    path = str(prim.GetPath())
    if points is None:
        raise InvalidInputError(f"{path}: Mesh without point3f[] points")
    if counts is None:
        raise InvalidInputError(f"{path}: Mesh without int[] faceVertexCounts")
    if indices is None:
        raise InvalidInputError(f"{path}: Mesh without int[] faceVertexIndices")
    return {
        "points": np.array(points, dtype=np.float64).reshape(-1, 3),
        "counts": np.array(counts, dtype=np.int64),
        "indices": np.array(indices, dtype=np.int64),
    }


def _get(prim, name: str):
    a = prim.GetAttribute(name)
    return a.Get() if a and a.HasAuthoredValue() else None


def _six(prim, name: str) -> Optional[List[float]]:
    v = _get(prim, name)
    return None if v is None else [float(x) for x in v]


def _frame(prim, name: str) -> np.ndarray:
    v = _get(prim, name)
    return np.eye(4) if v is None else _col(v)


def _read_robot(UsdGeom, cache, prim) -> Dict[str, Any]:
    opw = {}
    for k in _OPW:
        v = _get(prim, f"twinloom:opw:{k}")
        opw[f"twinloom:opw:{k}"] = None if v is None else float(v)
    model = _get(prim, "twinloom:model")
    base_frame = _frame(prim, "twinloom:baseFrame")
    links: List[Dict[str, Any]] = []

    def walk(p, link: int, offset: np.ndarray) -> None:
        for c in p.GetChildren():
            name = c.GetName()
            n = int(name[4:]) if name.startswith("Link") and name[4:].isdigit() else 0
            if 1 <= n <= 6:
                child_link, child_offset = n, np.eye(4)
            else:
                child_link, child_offset = link, offset @ _local(UsdGeom, c)
            if c.GetTypeName() == "Mesh":
                links.append(
                    dict(
                        _mesh(UsdGeom, c),
                        link=child_link,
                        name=p.GetName() if name == "Geom" else name,
                        offset=child_offset,
                    )
                )
            walk(c, child_link, child_offset)

    walk(prim, 0, np.linalg.inv(base_frame))
    return {
        "prim": str(prim.GetPath()),
        "name": prim.GetName(),
        "model": str(model) if model is not None else "opw robot",
        "opw": opw,
        "offsets_deg": _six(prim, "twinloom:opw:offsets"),
        "signs": _six(prim, "twinloom:opw:signCorrections"),
        "lower_deg": _six(prim, "twinloom:joints:lowerLimits"),
        "upper_deg": _six(prim, "twinloom:joints:upperLimits"),
        "home_deg": _six(prim, "twinloom:joints:positions"),
        "tool": _frame(prim, "twinloom:toolFrame"),
        "base": _col(cache.GetLocalToWorldTransform(prim)) @ base_frame,
        "links": links,
    }


def _read_station(UsdGeom, cache, prim) -> Dict[str, Any]:
    station = str(prim.GetPath())
    robots, obstacles, welds = [], [], []

    def collect(p) -> None:
        path = str(p.GetPath())
        if p.GetTypeName() == "Mesh":
            obstacles.append(
                dict(_mesh(UsdGeom, p), name=path[len(station):].lstrip("/"),
                     pose=_col(cache.GetLocalToWorldTransform(p)))
            )
        approach = _get(p, "twinloom:weld:approach")
        if approach is not None:
            # The approach is authored in the weld's parent frame (like its translate).
            parent = _col(cache.GetLocalToWorldTransform(p.GetParent()))
            a = parent[:3, :3] @ np.array([float(x) for x in approach])
            index = _get(p, "twinloom:weld:index")
            rel = p.GetRelationship("twinloom:weld:robot")
            targets = rel.GetTargets() if rel else []
            welds.append({
                "prim": path,
                "id": p.GetName(),
                "index": int(index) if isinstance(index, int) else 0,
                "robot": str(targets[0]) if targets else "",
                "approach": [float(x) for x in a],
                "position": [float(x) for x in _col(cache.GetLocalToWorldTransform(p))[:3, 3]],
            })
        for c in p.GetChildren():
            collect(c)

    for c in prim.GetChildren():
        if _has_api(c, ROBOT_API):
            robots.append(_read_robot(UsdGeom, cache, c))
        else:
            collect(c)
    return {"prim": station, "name": prim.GetName(), "robots": robots, "obstacles": obstacles, "welds": welds}


def _open(stage):
    Usd, _ = _pxr()
    if isinstance(stage, (str, os.PathLike)):
        path = os.fspath(stage)
        if not os.path.isfile(path):
            raise _native.FileError(f"{path}: no such stage file")
        s = Usd.Stage.Open(path)
        if s is None:
            raise _native.ParseError(f"{path}: not a USD stage")
        return s, path
    if hasattr(stage, "GetPseudoRoot"):
        return stage, stage.GetRootLayer().identifier
    raise InvalidInputError(f"expected a stage path or a pxr.Usd.Stage, got {type(stage).__name__}")


def read_stations(stage: Union[str, "os.PathLike[str]", Any],
                  stations: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """The BIW stations of a stage (a path or a ``pxr.Usd.Stage``) as plain dicts with numpy arrays (the
    input of the Rust study): stations in stage order, each with its robots, obstacle meshes (world poses)
    and weld points. ``stations`` keeps only those prim names; an unknown name raises
    :class:`InvalidInputError`."""
    _, UsdGeom = _pxr()
    s, path = _open(stage)
    cache = UsdGeom.XformCache()
    out: List[Dict[str, Any]] = []

    def visit(p) -> None:
        for c in p.GetChildren():
            if _has_api(c, STATION_API) and any(_has_api(k, ROBOT_API) for k in c.GetChildren()):
                out.append(_read_station(UsdGeom, cache, c))
            else:
                visit(c)

    visit(s.GetPseudoRoot())
    if not out:
        raise InvalidInputError(f"{path}: no BIW stations (prims with TwinloomStationAPI holding robots)")
    if stations:
        known = [st["name"] for st in out]
        for n in stations:
            if n not in known:
                raise InvalidInputError(f"{path}: no BIW station named {n!r} (stations: {', '.join(known)})")
        out = [st for st in out if st["name"] in stations]
    for st in out:
        st["welds"].sort(key=lambda w: (w["index"], w["id"]))
    return out


def _xyz(v) -> Tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def study_stage(stage: Union[str, "os.PathLike[str]", Any], stations: Optional[Sequence[str]] = None,
                near_miss_mm: float = 10.0, spin_tolerance_deg: float = 30.0) -> StageStudy:
    """The BIW study of a stage (a path or a ``pxr.Usd.Stage``), as ``twinloom analyze biw --stage`` with
    ``--gpu off``: reach of every weld point by its robot (spin about the approach within
    ``±spin_tolerance_deg``), base-shift fixes, then the collision study of the weld programs (near misses
    under ``near_miss_mm``). Nothing is written."""
    data = read_stations(stage, stations)
    report = _native._study_stations(data, near_miss_mm, spin_tolerance_deg)
    clashes, near, unreachable, shifts = [], [], [], []
    for st in report["stations"]:
        name = st["name"]
        for e in st["events"]:
            common = dict(station=name, robot=e["robot"], link=e["link"], part=e["other"], start_s=e["start_s"],
                          end_s=e["end_s"], worst_s=e["worst_s"], point_m=_xyz(e["point_m"]))
            if e["kind"] == "clash":
                clashes.append(Clash(depth_mm=e["depth_mm"], **common))
            else:
                near.append(NearMiss(clearance_mm=e["clearance_mm"], **common))
        for r in st["robots"]:
            for p in r["points"]:
                if not p["reachable"]:
                    unreachable.append(UnreachablePoint(name, r["name"], p["id"], p["prim"], p["outside_mm"]))
            b = r["base_shift"]
            if b is not None:
                shifts.append(BaseShiftFix(name, r["name"], b["found"],
                                           _xyz(b["shift_mm"]) if b["shift_mm"] is not None else None,
                                           b["norm_mm"], b["search_half_mm"]))
    return StageStudy(clashes, near, unreachable, shifts, report)
