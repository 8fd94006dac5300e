"""The extension follows ``twinloom demo`` into its stage: it connects through its setting, the live layers are
session sublayers of the stage, a dropped connection is resumed (no gap, no resync, no new snapshots), the
demo is stopped with SIGINT, and then every attribute of every live layer, and its composed value on the
stage, equals the demo's saved ``live/<shop>.usdc``. Also: a service that is not there is an error state."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import carb.settings
from pxr import Sdf, Usd

import twinloomkit.live as tl

from .helpers import Demo, TestCase, attributes, free_port, rmtree

SHOPS = ("biw", "paint", "assembly", "field", "site", "edge")


class TestLiveFollow(TestCase):
    async def test_follows_demo_through_a_resume_and_equals_saved_layers(self):
        live = tl.get_instance()
        self.assertIsNotNone(live, "the extension is not enabled")
        live.set_stage(Usd.Stage.CreateInMemory("follow.usda"))
        tmp = Path(tempfile.mkdtemp(prefix="twinloomkit-test-"))
        demo = Demo(tmp / "demo")
        try:
            # Connect the way an app does: the service address from the extension's setting.
            carb.settings.get_settings().set("/exts/twinloomkit.live/service", demo.address)
            tl.connect_from_settings()
            self.assertEqual(live.service, demo.address)
            ok = await live.wait_until(lambda: live.connected and live.client.deltas_seen > 20, 120)
            self.assertTrue(ok, f"not following: {live.status()}")
            await asyncio.sleep(2.0)
            shops = [s["name"] for s in live.client.hello["shops"]]
            self.assertLessEqual(set(SHOPS), set(shops))
            self.assertEqual(live.client.snapshots, len(shops))
            session = live.stage.GetSessionLayer()
            for shop in shops:
                self.assertIn(live.live_layers[shop].identifier, list(session.subLayerPaths))

            # A network cut: the follower resumes after the last delta.
            before = live.client.seq
            live.drop_connection()
            self.assertEqual(live.state, "reconnecting")
            ok = await live.wait_until(lambda: live.client.reconnects == 1 and live.client.seq > before + 5, 120)
            self.assertTrue(ok, f"no resume: {live.status()}")
            self.assertEqual(live.state, "connected")
            self.assertEqual((live.client.resyncs, live.client.gaps), (0, 0))
            self.assertEqual(live.client.snapshots, len(shops), "a resume must not take snapshots again")
            await asyncio.sleep(1.0)

            # Stop the demo: the extension gets every delta, then the close frame.
            demo.interrupt()
            ok = await live.wait_until(lambda: live.state == "closed", 120)
            self.assertTrue(ok, f"stream not closed: {live.status()}")
            self.assertEqual(demo.proc.wait(timeout=60), 0, demo.log())
            self.assertEqual((live.client.resyncs, live.client.gaps), (0, 0))

            checked = 0
            for shop in SHOPS:
                saved = Sdf.Layer.FindOrOpen(str(tmp / "demo" / "live" / f"{shop}.usdc"))
                self.assertTrue(saved, shop)
                want, got = attributes(saved), attributes(live.live_layers[shop])
                self.assertTrue(want, f"{shop}: the saved layer has no attributes")
                self.assertEqual(sorted(got), sorted(want), f"{shop}: attribute sets differ")
                for path, (typ, value) in want.items():
                    self.assertEqual(got[path], (typ, value), f"{shop}: {path}")
                    composed = live.stage.GetAttributeAtPath(path)
                    self.assertTrue(composed, f"{shop}: {path} not on the stage")
                    self.assertEqual(composed.Get(), value, f"{shop}: {path} on the stage")
                    checked += 1
            self.assertGreater(checked, 1000)
        finally:
            live.disconnect()
            demo.stop()
            rmtree(tmp)

    async def test_unreachable_service_is_an_error_state(self):
        live = tl.get_instance()
        states = []
        unsubscribe = live.subscribe(lambda l: states.append(l.state))
        try:
            live.connect(f"127.0.0.1:{free_port()}")
            ok = await live.wait_until(lambda: live.state == "error", 30)
            self.assertTrue(ok, live.status())
            self.assertIn("cannot connect", live.error)
            self.assertEqual(states[0], "connecting")
            self.assertEqual(states[-1], "error")
        finally:
            unsubscribe()
            live.disconnect()

    async def test_service_gone_reconnects_without_blocking_then_errors(self):
        live = tl.get_instance()
        live.set_stage(Usd.Stage.CreateInMemory("gone.usda"))
        tmp = Path(tempfile.mkdtemp(prefix="twinloomkit-gone-"))
        demo = Demo(tmp / "demo")
        retries = live.retries
        states = []
        unsubscribe = live.subscribe(lambda l: states.append(l.state))
        try:
            live.retries = 3
            live.connect(demo.address)
            self.assertTrue(await live.wait_until(lambda: live.connected and live.client.deltas_seen > 0, 120))
            demo.proc.kill()  # no close frame: the connection just dies
            demo.proc.wait()
            # While the follower retries, the loop keeps turning (this coroutine runs every few ms).
            turns, longest, last = 0, 0.0, asyncio.get_running_loop().time()
            while live.state != "error" and turns < 100_000:
                await asyncio.sleep(0.005)
                now = asyncio.get_running_loop().time()
                longest, last, turns = max(longest, now - last), now, turns + 1
            self.assertEqual(live.state, "error", live.status())
            self.assertIn("reconnecting", states)
            self.assertLess(longest, 1.0, "a reconnect attempt blocked the app's loop")
        finally:
            unsubscribe()
            live.retries = retries
            live.disconnect()
            demo.stop()
            rmtree(tmp)
