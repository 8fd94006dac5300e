"""An independent OPC UA server (PyPI asyncua) for the OPC UA source's tests.

Usage: python opcua_server.py PORT

Serves namespace "urn:twinloom:test-peer" on opc.tcp://127.0.0.1:PORT/ with awkward browse names
(spaces, unicode, leading digits, duplicates among siblings) and known values:

  Objects/Line 1/            (folder)
    "Temp 1"        Double   21.5
    "Température"   Double   22.25
    "1st Station"   Int32    7
    "Dup"           String   "first"   (node id s=Line 1/Dup#1)
    "Dup"           String   "second"  (node id s=Line 1/Dup#2, same browse name)
    "Ready?"        Boolean  True
    "Counter"       Int64    counts up by one every 50 ms from 0
    "Blob"          ByteString        (a type the source must refuse)
    "Recipe"        Double[3]         [1.0, 2.0, 3.0] (an array: left out of the stage)
    Cell A/         (folder; a prim name USD must change)
      "Torque"      Double   12.5
  Objects/Ünïcode ⚙/
    "Motor speed"   Float    1450.0

Prints "READY <port>" on stdout once serving; runs until killed.
"""

import asyncio
import sys

from asyncua import Server, ua

NS_URI = "urn:twinloom:test-peer"


async def main(port: int) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    server.set_server_name("Twinloom test peer")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(NS_URI)
    objects = server.nodes.objects

    def nid(path: str) -> ua.NodeId:
        return ua.NodeId(path, ns)

    line = await objects.add_folder(nid("Line 1"), ua.QualifiedName("Line 1", ns))
    await line.add_variable(nid("Line 1/Temp 1"), ua.QualifiedName("Temp 1", ns), 21.5, ua.VariantType.Double)
    await line.add_variable(nid("Line 1/Température"), ua.QualifiedName("Température", ns), 22.25, ua.VariantType.Double)
    await line.add_variable(nid("Line 1/1st Station"), ua.QualifiedName("1st Station", ns), 7, ua.VariantType.Int32)
    await line.add_variable(nid("Line 1/Dup#1"), ua.QualifiedName("Dup", ns), "first", ua.VariantType.String)
    await line.add_variable(nid("Line 1/Dup#2"), ua.QualifiedName("Dup", ns), "second", ua.VariantType.String)
    await line.add_variable(nid("Line 1/Ready?"), ua.QualifiedName("Ready?", ns), True, ua.VariantType.Boolean)
    counter = await line.add_variable(nid("Line 1/Counter"), ua.QualifiedName("Counter", ns), 0, ua.VariantType.Int64)
    await line.add_variable(nid("Line 1/Blob"), ua.QualifiedName("Blob", ns), b"\x00\x01", ua.VariantType.ByteString)
    recipe = await line.add_variable(nid("Line 1/Recipe"), ua.QualifiedName("Recipe", ns), [1.0, 2.0, 3.0], ua.VariantType.Double)
    await recipe.write_value_rank(1)
    cell = await line.add_folder(nid("Line 1/Cell A"), ua.QualifiedName("Cell A", ns))
    await cell.add_variable(nid("Line 1/Cell A/Torque"), ua.QualifiedName("Torque", ns), 12.5, ua.VariantType.Double)
    uni = await objects.add_folder(nid("Ünïcode ⚙"), ua.QualifiedName("Ünïcode ⚙", ns))
    await uni.add_variable(nid("Ünïcode ⚙/Motor speed"), ua.QualifiedName("Motor speed", ns), 1450.0, ua.VariantType.Float)

    async with server:
        print(f"READY {port}", flush=True)
        n = 0
        while True:
            await asyncio.sleep(0.05)
            n += 1
            await counter.write_value(ua.Variant(n, ua.VariantType.Int64))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
