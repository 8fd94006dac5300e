"""Twinloom's body-in-white and flow analytics from Python.

The heavy lifting is Rust (``twinloom._native``, built from extensions/python with PyO3); this package
re-exports it and adds typed dataclasses and a few helpers:

- BIW: :class:`Mesh` (numpy arrays, STL/OBJ/glTF files, primitives), :func:`distance` (exact mesh–mesh
  distance with closest points), :func:`penetration_depth`, :class:`Robot` (OPW forward and inverse
  kinematics), :func:`reach` (weld-point reach with ``outside_mm`` and a base-shift suggestion),
  :func:`load_weld_points`, :func:`pose`.
- Flow: :func:`balance` and :func:`balance_file` (exact SALBP-1/SALBP-2), :class:`FlowModel` (line
  simulation and paint-shop model from TOML model files; results as dicts with the keys of
  ``twinloom flow --json``).

- Live: :mod:`twinloom.live` (imported on its own, ``from twinloom.live import LiveClient``) follows a
  Twinloom service's live stream into ``pxr.Sdf.Layer`` copies of its live layers (pxr imported lazily).
- Stage study: :mod:`twinloom.biw` (``twinloom.biw.study_stage(path_or_stage)``) reads a plant stage's BIW
  stations with the caller's ``pxr`` and runs the collision and reach study of ``twinloom analyze biw``.
- Service: :mod:`twinloom.service` (``Service(base_url, token)``) submits, reads and approves write-back
  commands and queries history and snapshots of a running service.

Errors are :class:`TwinloomError` (subclasses :class:`FileError`, :class:`ParseError`,
:class:`InvalidInputError`) carrying the Rust message. Long computations release the GIL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import (
    Distance,
    FileError,
    FlowModel,
    InvalidInputError,
    Mesh,
    ParseError,
    Robot,
    TwinloomError,
    distance,
    load_weld_points,
    penetration_depth,
)

__version__: str = _native.__version__

__all__ = [
    "BaseShift",
    "Balance",
    "Distance",
    "FileError",
    "FlowModel",
    "InvalidInputError",
    "Mesh",
    "ParseError",
    "PointReach",
    "ReachReport",
    "Robot",
    "StationLoad",
    "TwinloomError",
    "balance",
    "balance_file",
    "distance",
    "load_weld_points",
    "penetration_depth",
    "pose",
    "reach",
]

PathLike = Union[str, "os.PathLike[str]"]
Vec3 = Tuple[float, float, float]


def pose(
    translation: Sequence[float] = (0.0, 0.0, 0.0),
    quaternion: Sequence[float] = (1.0, 0.0, 0.0, 0.0),
) -> np.ndarray:
    """A 4x4 rigid transform from a translation (metres) and a quaternion ``(w, x, y, z)`` (normalised here).

    The rotation matrix is computed exactly as the Rust library does for weld-point CSV files, so a pose
    built here from a CSV row is the pose ``twinloom analyze reach`` uses.
    """
    t = [float(v) for v in translation]
    q = [float(v) for v in quaternion]
    if len(t) != 3 or len(q) != 4:
        raise InvalidInputError("pose: translation needs 3 values and quaternion 4 (w, x, y, z)")
    n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]) ** 0.5
    if not n > 0.0 or not all(np.isfinite(t + q)):
        raise InvalidInputError("pose: the quaternion must be finite and non-zero, the translation finite")
    w, x, y, z = q[0] / n, q[1] / n, q[2] / n, q[3] / n
    m = np.eye(4)
    m[:3, 0] = (1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y))
    m[:3, 1] = (2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x))
    m[:3, 2] = (2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y))
    m[:3, 3] = t
    return m


@dataclass(frozen=True)
class PointReach:
    """The reach verdict for one weld point (as a row of ``twinloom analyze reach --json``, unrounded)."""

    id: str
    reachable: bool
    #: 0 when reachable; else the distance (mm) to the nearest reachable pose; None when no pose with that
    #: approach direction is reachable at all.
    outside_mm: Optional[float]
    #: A configuration reaching the point (or the nearest reachable pose), radians; None when there is none.
    joints: Optional[Tuple[float, float, float, float, float, float]]
    #: The rotation about the approach axis used, radians.
    spin: float
    #: The point itself when reachable, else the nearest reachable position (metres, base frame).
    nearest_position: Vec3


@dataclass(frozen=True)
class BaseShift:
    """The smallest base shift that makes every point reachable (base frame, mm), if one was found."""

    found: bool
    shift_mm: Optional[Vec3]
    norm_mm: Optional[float]
    search_half_mm: Vec3
    resolution_mm: float


@dataclass(frozen=True)
class ReachReport:
    """The reach check of a robot's weld points."""

    robot: str
    spin_tolerance_deg: float
    all_reachable: bool
    points: Tuple[PointReach, ...]
    #: None when every point is reachable (or the search was not asked for).
    base_shift: Optional[BaseShift]


def reach(
    robot: Robot,
    points: Sequence[Tuple[str, np.ndarray]],
    *,
    spin_tolerance_deg: float = 10.0,
    search_mm: float = 500.0,
    base_shift: bool = True,
) -> ReachReport:
    """Whether ``robot`` reaches each weld point (id, 4x4 tool pose in the base frame; approach = tool z).

    Same computation as ``twinloom analyze reach``: every IK branch within joint limits with a spin about
    the approach axis within ``spin_tolerance_deg`` (1 degree steps); for an unreachable point the distance
    to the nearest reachable pose (``outside_mm``); when some point is unreachable and ``base_shift`` is
    true, the smallest base translation within +-``search_mm`` per axis that makes all points reachable.
    """
    raw = robot._reach(points, spin_tolerance_deg, search_mm, base_shift)
    pts = tuple(
        PointReach(
            id=p["id"],
            reachable=p["reachable"],
            outside_mm=p["outside_mm"],
            joints=None if p["joints"] is None else tuple(p["joints"]),
            spin=p["spin"],
            nearest_position=tuple(p["nearest_position"]),
        )
        for p in raw["points"]
    )
    bs = raw["base_shift"]
    shift = None
    if bs is not None:
        shift = BaseShift(
            found=bs["found"],
            shift_mm=None if bs["shift_mm"] is None else tuple(bs["shift_mm"]),
            norm_mm=bs["norm_mm"],
            search_half_mm=tuple(bs["search_half_mm"]),
            resolution_mm=bs["resolution_mm"],
        )
    return ReachReport(
        robot=raw["robot"],
        spin_tolerance_deg=raw["spin_tolerance_deg"],
        all_reachable=raw["all_reachable"],
        points=pts,
        base_shift=shift,
    )


@dataclass(frozen=True)
class StationLoad:
    """One station of a balance (tasks numbered from 1)."""

    station: int
    tasks: Tuple[int, ...]
    load: int
    idle: int
    utilisation: float
    ergonomics: float


@dataclass(frozen=True)
class Balance:
    """A line balance, with the fields of ``twinloom balance --json``."""

    #: ``salbp1`` (fewest stations for a cycle time) or ``salbp2`` (shortest cycle time for a station count).
    mode: str
    tasks: int
    total_time: int
    cycle_time: int
    #: SALBP-2 only: the proven lower bound on the cycle time.
    cycle_time_lower_bound: Optional[int]
    #: Number of stations used.
    stations: int
    #: Proven lower bound on the number of stations at ``cycle_time``.
    lower_bound: int
    optimal: bool
    nodes: int
    seconds: float
    assignment: Tuple[StationLoad, ...]
    #: The instance file, for :func:`balance_file`.
    file: Optional[str] = None


def _count(name: str, v: object, least: int) -> int:
    """``v`` as an int >= ``least`` (bools and floats refused), else InvalidInputError."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
        raise InvalidInputError(f"{name}: expected an integer >= {least}, got {v!r}")
    return int(v)


def _counts(name: str, values: Sequence[object], least: int) -> list:
    return [_count(f"{name}[{i}]", v, least) for i, v in enumerate(values)]


def _pairs(name: str, pairs: Sequence[Tuple[int, int]]) -> list:
    out = []
    for i, p in enumerate(pairs):
        if not isinstance(p, (tuple, list)) or len(p) != 2:
            raise InvalidInputError(f"{name}[{i}]: expected a pair of task numbers (i, j), got {p!r}")
        out.append(tuple(_counts(f"{name}[{i}]", p, 1)))
    return out


def _checked(cycle_time: Optional[int], stations: Optional[int], time_limit: Optional[float]) -> tuple:
    ct = None if cycle_time is None else _count("cycle_time", cycle_time, 1)
    st = None if stations is None else _count("stations", stations, 1)
    return ct, st, None if time_limit is None else float(time_limit)


def _balance_of(raw: dict) -> Balance:
    return Balance(
        mode=raw["mode"],
        tasks=raw["tasks"],
        total_time=raw["total_time"],
        cycle_time=raw["cycle_time"],
        cycle_time_lower_bound=raw["cycle_time_lower_bound"],
        stations=raw["stations"],
        lower_bound=raw["lower_bound"],
        optimal=raw["optimal"],
        nodes=raw["nodes"],
        seconds=raw["seconds"],
        assignment=tuple(
            StationLoad(
                station=s["station"],
                tasks=tuple(s["tasks"]),
                load=s["load"],
                idle=s["idle"],
                utilisation=s["utilisation"],
                ergonomics=s["ergonomics"],
            )
            for s in raw["assignment"]
        ),
        file=raw.get("file"),
    )


def balance(
    times: Sequence[int],
    precedences: Sequence[Tuple[int, int]] = (),
    *,
    cycle_time: Optional[int] = None,
    stations: Optional[int] = None,
    together: Sequence[Tuple[int, int]] = (),
    apart: Sequence[Tuple[int, int]] = (),
    time_limit: Optional[float] = None,
    name: str = "tasks",
) -> Balance:
    """Balances a line exactly: tasks ``1..=len(times)`` with integer times and precedence pairs ``(i, j)``
    (``i`` before ``j``, numbered from 1 as in the files and reports).

    ``cycle_time``: SALBP-1, the fewest stations; ``stations``: SALBP-2, the shortest cycle time.
    ``together`` / ``apart``: zoning pairs. ``time_limit`` (seconds): the best balance so far, with
    ``optimal=False`` and the bound. Releases the GIL while solving.
    """
    ct, st, tl = _checked(cycle_time, stations, time_limit)
    return _balance_of(
        _native._balance(
            _counts("times", list(times), 0),
            _pairs("precedences", precedences),
            ct,
            st,
            _pairs("together", together),
            _pairs("apart", apart),
            tl,
            name,
        )
    )


def balance_file(
    path: PathLike,
    *,
    cycle_time: Optional[int] = None,
    stations: Optional[int] = None,
    together: Sequence[Tuple[int, int]] = (),
    apart: Sequence[Tuple[int, int]] = (),
    time_limit: Optional[float] = None,
) -> Balance:
    """Balances the instance of a Scholl ``.IN2`` or Otto et al. ``.alb`` file, as ``twinloom balance``
    does (an ``.alb`` file's own cycle time is used when neither ``cycle_time`` nor ``stations`` is given)."""
    ct, st, tl = _checked(cycle_time, stations, time_limit)
    return _balance_of(
        _native._balance_file(path, ct, st, _pairs("together", together), _pairs("apart", apart), tl)
    )
