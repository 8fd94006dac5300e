"""The Kit side of twinloomkit.live: the ``omni.ext.IExt`` that Kit starts and stops.

On startup it reads its settings (``/exts/twinloomkit.live/…``, see config/extension.toml), takes the app's
open stage (``omni.usd``'s context when the app has it, else an in-memory stage of its own), connects to the
configured service when ``autoConnect`` is on, follows the app's stage changes, and shows the panel when
``omni.ui`` is importable. :func:`get_instance` gives the engine to Python callers and tests.
"""

from __future__ import annotations

from typing import Any, Optional

import carb
import carb.settings
import omni.ext

from .core import TwinloomKitError, TwinloomLive

_SETTINGS = "/exts/twinloomkit.live"
_instance: Optional[TwinloomLive] = None


def get_instance() -> Optional[TwinloomLive]:
    """The running extension's engine (``None`` when the extension is not enabled)."""
    return _instance


def connect_from_settings() -> Any:
    """(Re)connects the running extension to the service its settings name now (``service``, ``token``);
    returns the follower's task. Raises :class:`TwinloomKitError` when the extension is not enabled or no
    service is set."""
    if _instance is None:
        raise TwinloomKitError("twinloomkit.live is not enabled")
    settings = carb.settings.get_settings()
    token = settings.get(f"{_SETTINGS}/token")
    cli = settings.get(f"{_SETTINGS}/cli")
    if cli:
        _instance.cli = cli
    return _instance.connect(settings.get(f"{_SETTINGS}/service") or None, token=token or "")


def _app_stage() -> Any:
    try:
        import omni.usd  # type: ignore[import-not-found]
    except ImportError:
        return None
    return omni.usd.get_context().get_stage()


class TwinloomLiveExtension(omni.ext.IExt):
    """Starts the engine, connects, shows the panel; stops them all on shutdown."""

    def on_startup(self, ext_id: str) -> None:
        global _instance
        settings = carb.settings.get_settings()

        def get(key: str, default: Any) -> Any:
            value = settings.get(f"{_SETTINGS}/{key}")
            return default if value is None else value

        self._live = TwinloomLive(
            stage=_app_stage(),
            service=get("service", "") or None,
            token=get("token", "") or None,
            slice_seconds=float(get("sliceSeconds", 0.02)),
            cli=get("cli", "") or None,
        )
        _instance = self._live
        self._stage_sub = None
        self._window = None
        try:
            import omni.usd  # type: ignore[import-not-found]

            def on_stage_event(event: Any) -> None:
                if event.type == int(omni.usd.StageEventType.OPENED):
                    stage = omni.usd.get_context().get_stage()
                    if stage is not None:
                        self._live.set_stage(stage)

            self._stage_sub = (
                omni.usd.get_context().get_stage_event_stream().create_subscription_to_pop(on_stage_event)
            )
        except ImportError:
            pass
        if get("autoConnect", True) and self._live.service:
            try:
                self._live.connect()
            except TwinloomKitError as e:
                carb.log_warn(f"twinloomkit.live: {e}")
        if get("showWindow", True):
            try:
                from .ui import TwinloomWindow

                self._window = TwinloomWindow(self._live)
            except ImportError:  # no omni.ui (a headless kernel): everything stays callable from Python
                self._window = None

    def on_shutdown(self) -> None:
        global _instance
        if self._window is not None:
            self._window.destroy()
            self._window = None
        self._stage_sub = None
        self._live.shutdown()
        _instance = None
