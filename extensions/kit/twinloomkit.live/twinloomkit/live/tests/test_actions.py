"""The extension's actions on real inputs: the collision and reach study of the sample plant's new body
variant (``twinloom-plant-layout --variant new``, station 1) finds R01's clash with the B-pillar reinforcement
and W002 out of reach and marks both on the stage (a session sublayer; the plant is not written); the
what-if over the sample assembly line writes its sibling layer, opens it on the stage, and its throughputs
equal ``twinloom flow --json``."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from pxr import Sdf, Usd, UsdGeom

import twinloom
import twinloomkit.live as tl

from .helpers import REPO, TestCase, cli, plant_layout, rmtree

ROOT = """#usda 1.0
(
    defaultPrim = "Plant"
    metersPerUnit = 1
    upAxis = "Z"
    subLayers = [@./layout.usda@]
)
"""


class TestActions(TestCase):
    async def test_study_of_the_new_variant_marks_clash_and_unreachable_point(self):
        live = tl.get_instance()
        tmp = Path(tempfile.mkdtemp(prefix="twinloomkit-study-test-"))
        try:
            subprocess.run([str(plant_layout()), "--variant", "new", str(tmp / "layout.usda")], check=True,
                           capture_output=True)
            (tmp / "plant.usda").write_text(ROOT)
            from twinloomkit.live.core import wheel_study
            if wheel_study() is None:
                live.cli = str(cli())  # the wheel has no stage study: the extension runs the CLI
            stage = live.open_stage(str(tmp / "plant.usda"))
            result = await live.run_study_async(stations=["Station01"])  # docs/kit.md runs run_study
            self.assertEqual(result.stage_path, str(tmp / "plant.usda"))
            self.assertEqual(result.via, "wheel" if wheel_study() is not None else "cli")
            self.assertGreaterEqual(result.clashes, 1)
            self.assertGreaterEqual(result.unreachable_points, 1)
            st = result.report["stations"][0]
            self.assertEqual(st["prim"], "/Plant/BIW/Line/Station01")

            clashes = [m for m in result.markers if m.kind == "clash" and m.robot == "R01"
                       and m.what == "Body/BPillarReinforcement"]
            self.assertTrue(clashes, [(m.kind, m.robot, m.what) for m in result.markers])
            marker = stage.GetPrimAtPath(clashes[0].path)
            self.assertTrue(marker and marker.IsA(UsdGeom.Sphere), clashes[0].path)
            self.assertGreater(marker.GetAttribute("twinloom:study:depthMm").Get(), 0.0)
            self.assertEqual(marker.GetAttribute("twinloom:study:other").Get(), "Body/BPillarReinforcement")

            unreachable = [m for m in result.markers if m.kind == "unreachable" and m.what == "W002"]
            self.assertEqual(len(unreachable), 1, [(m.kind, m.what) for m in result.markers])
            self.assertEqual(unreachable[0].robot, "R01")
            marker = stage.GetPrimAtPath(unreachable[0].path)
            self.assertTrue(marker and marker.IsA(UsdGeom.Sphere))
            self.assertGreater(marker.GetAttribute("twinloom:study:outsideMm").Get(), 0.0)
            # The marker sits on the weld point (its world position on the stage).
            weld = stage.GetPrimAtPath("/Plant/BIW/Line/Station01/Body/WeldPoints/W002")
            want = UsdGeom.XformCache().GetLocalToWorldTransform(weld).ExtractTranslation()
            got = UsdGeom.XformCache().GetLocalToWorldTransform(marker).ExtractTranslation()
            self.assertLess((want - got).GetLength(), 1e-9)
            self.assertGreater(want.GetLength(), 1.0)

            # Markers live in a session sublayer: the plant's layers are not touched.
            self.assertIn(live.study_layer.identifier, list(stage.GetSessionLayer().subLayerPaths))
            self.assertFalse(stage.GetRootLayer().dirty)
            self.assertFalse(Sdf.Layer.Find(str(tmp / "layout.usda")).dirty)
        finally:
            rmtree(tmp)

    async def test_whatif_opens_its_sibling_layer_and_equals_the_cli(self):
        live = tl.get_instance()
        live.set_stage(Usd.Stage.CreateInMemory("whatif.usda"))
        model = REPO / "samples" / "models" / "assembly_line.toml"
        scenario = REPO / "samples" / "models" / "scenarios" / "faster_alignment.toml"
        tmp = Path(tempfile.mkdtemp(prefix="twinloomkit-whatif-test-"))
        try:
            r = await live.run_whatif_async(str(model), str(scenario), replications=3, seed=7,
                                            out=str(tmp / "whatif.usda"))
            self.assertTrue((tmp / "whatif.usda").is_file())
            self.assertIn(r.layer.identifier, list(live.stage.GetSessionLayer().subLayerPaths))
            prim = live.stage.GetPrimAtPath("/Plant/Results/WhatIf/faster_alignment")
            self.assertTrue(prim, "the what-if layer is not on the stage")
            self.assertEqual(prim.GetAttribute("twinloom:whatif:throughputPerH").Get(),
                             r.scenario["throughput_per_h"]["mean"])
            for args, got in (([], r.baseline), (["--scenario", str(scenario)], r.scenario)):
                out = subprocess.run([str(cli()), "flow", "--model", str(model), *args, "--replications", "3",
                                      "--seed", "7", "--json"], capture_output=True, text=True, check=True)
                want = json.loads(out.stdout)
                line = want.get("line", want)
                self.assertEqual(line["throughput_per_h"]["mean"], got["throughput_per_h"]["mean"])
                self.assertEqual(line["bottleneck"], got["bottleneck"])
            self.assertNotEqual(r.throughput_change_per_h, 0.0)
        finally:
            rmtree(tmp)
