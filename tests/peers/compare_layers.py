"""Checks that a live-stream client's copies of the live layers equal the connector's saved live layers.

Usage: python compare_layers.py STAGE_DIR CLIENT_DIR SHOP[,SHOP…] [CLIENT_SUFFIX]

For each shop, every attribute of STAGE_DIR/live/<shop>.usdc must be in CLIENT_DIR/<shop><CLIENT_SUFFIX>
(default `.usda`) with an equal default value and the same type, and the client's layer must have no
attribute more. Prints {"checked": N, "types": [...]} on success; exits non-zero naming the first mismatch.
"""

import json
import sys

from pxr import Sdf


def main():
    stage_dir, client_dir, shops = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    suffix = sys.argv[4] if len(sys.argv) > 4 else ".usda"
    checked, types = 0, set()
    for shop in shops:
        saved = Sdf.Layer.FindOrOpen(f"{stage_dir}/live/{shop}.usdc")
        client = Sdf.Layer.FindOrOpen(f"{client_dir}/{shop}{suffix}")
        assert saved and client, f"{shop}: a layer is missing"
        paths = []
        saved.Traverse("/", lambda p: paths.append(p) if p.IsPropertyPath() else None)
        assert paths, f"{shop}: the saved layer has no attributes"
        for p in paths:
            a, b = saved.GetAttributeAtPath(p), client.GetAttributeAtPath(p)
            assert b, f"{shop}: client lacks {p}"
            assert a.typeName == b.typeName, f"{shop}: {p}: saved type {a.typeName} client {b.typeName}"
            assert a.default == b.default, f"{shop}: {p}: saved {a.default!r} client {b.default!r}"
            types.add(str(a.typeName))
            checked += 1
        extra = []
        client.Traverse("/", lambda p: extra.append(p) if p.IsPropertyPath() and not saved.GetAttributeAtPath(p) else None)
        assert not extra, f"{shop}: client has extra {extra[:3]}"
    print(json.dumps({"checked": checked, "types": sorted(types)}))


if __name__ == "__main__":
    main()
