"""twinloomkit.live: a Kit extension that follows a Twinloom service's live stream into the open USD stage and
runs Twinloom's Rust analytics (the ``twinloom`` wheel) on it.

From Python (headless too)::

    import twinloomkit.live as tl
    live = tl.get_instance()            # the running extension's engine (a TwinloomLive)
    live.connect("127.0.0.1:8080")      # or tl.connect_from_settings() (/exts/twinloomkit.live/service)
    live.status()                       # {"state": "connected", "seq": ..., ...}
    live.run_study(stations=["Station01"])
    live.run_whatif("assembly_line.toml", "faster_alignment.toml")

The package is deliberately not named ``twinloom``: that is the wheel it imports.
"""

from .core import STATES, Marker, StudyResult, TwinloomKitError, TwinloomLive, WhatIfResult

try:  # inside Kit: the extension class (omni.ext is Kit's)
    from .extension import TwinloomLiveExtension, connect_from_settings, get_instance
except ImportError:  # plain Python: only the engine

    def connect_from_settings():  # type: ignore[no-redef]
        """Connects the running extension from its settings (Kit only)."""
        raise TwinloomKitError("twinloomkit.live is not running in Kit")

    def get_instance():  # type: ignore[no-redef]
        """The running extension's engine; ``None`` outside Kit."""
        return None


__all__ = [
    "STATES",
    "Marker",
    "StudyResult",
    "TwinloomKitError",
    "TwinloomLive",
    "WhatIfResult",
    "connect_from_settings",
    "get_instance",
]
