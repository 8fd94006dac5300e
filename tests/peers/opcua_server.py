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

Every node above is read-only to clients (anonymous clients get asyncua's User role, so access levels
are enforced: a write answers BadUserAccessDenied). For write-back tests, a separate folder (outside the
two trees the connector tests browse and bind) holds nodes that accept or refuse writes:

  Objects/Commands/          (folder)
    "Setpoint"      Double   50.0   writable (AccessLevel and UserAccessLevel CurrentRead|CurrentWrite);
                                    node id s=Commands/Setpoint
    "Mode"          Int32    1      writable; s=Commands/Mode
    "Locked"        Double   7.5    AccessLevel CurrentRead|CurrentWrite, UserAccessLevel CurrentRead only:
                                    a client write answers BadUserAccessDenied and changes nothing;
                                    s=Commands/Locked
    "Clamped"       Double   50.0   writable; a Double write answers Good but the value stored (read back
                                    and reported to subscribers) is clamped to 0..100, so writing 150.0
                                    reads back 100.0 and -5.0 reads back 0.0; s=Commands/Clamped
    "Slow"          Double   50.0   writable; a write is answered only after SLOW_WRITE_S seconds (and then
                                    applied), so a test can kill the server while a write is in flight;
                                    s=Commands/Slow

A write of another type than the node's (e.g. an Int32 or a Float to a Double) answers BadTypeMismatch
(asyncua checks the variant type against the current value's). Nothing is printed for writes: the
tests read only the READY line.

Prints "READY <port>" on stdout once serving; runs until killed.
"""

import asyncio
import dataclasses
import sys

from asyncua import Server, ua

NS_URI = "urn:twinloom:test-peer"
SLOW_WRITE_S = 30.0
CLAMP_RANGE = (0.0, 100.0)


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

    # Write-back targets (see the docstring).
    commands = await objects.add_folder(nid("Commands"), ua.QualifiedName("Commands", ns))
    setpoint = await commands.add_variable(nid("Commands/Setpoint"), ua.QualifiedName("Setpoint", ns), 50.0, ua.VariantType.Double)
    await setpoint.set_writable()
    mode = await commands.add_variable(nid("Commands/Mode"), ua.QualifiedName("Mode", ns), 1, ua.VariantType.Int32)
    await mode.set_writable()
    locked = await commands.add_variable(nid("Commands/Locked"), ua.QualifiedName("Locked", ns), 7.5, ua.VariantType.Double)
    await locked.set_writable()
    await locked.unset_attr_bit(ua.AttributeIds.UserAccessLevel, ua.AccessLevel.CurrentWrite)
    clamped = await commands.add_variable(nid("Commands/Clamped"), ua.QualifiedName("Clamped", ns), 50.0, ua.VariantType.Double)
    await clamped.set_writable()
    slow = await commands.add_variable(nid("Commands/Slow"), ua.QualifiedName("Slow", ns), 50.0, ua.VariantType.Double)
    await slow.set_writable()
    clamp_writes(server, clamped.nodeid, slow.nodeid)

    async with server:
        print(f"READY {port}", flush=True)
        n = 0
        while True:
            await asyncio.sleep(0.05)
            n += 1
            await counter.write_value(ua.Variant(n, ua.VariantType.Int64))


def clamp_writes(server: Server, node_id: ua.NodeId, slow_id: ua.NodeId) -> None:
    """Stores Double values written to `node_id` clamped to CLAMP_RANGE (the write still answers Good), and
    answers writes to `slow_id` only after SLOW_WRITE_S seconds.

    Wraps the address space's write so the stored value and the data change sent to subscribers are both
    the clamped one; writes of other types pass through unchanged (and are refused by the type check)."""
    aspace = server.iserver.aspace
    write = aspace.write_attribute_value

    async def clamping_write(nid: ua.NodeId, attr: ua.AttributeIds, value: ua.DataValue) -> ua.StatusCode:
        if nid == slow_id and attr == ua.AttributeIds.Value:
            await asyncio.sleep(SLOW_WRITE_S)
        v = value.Value
        if nid == node_id and attr == ua.AttributeIds.Value and v is not None and v.VariantType == ua.VariantType.Double:
            lo, hi = CLAMP_RANGE
            x = v.Value
            if x == x:  # NaN is stored as written
                x = min(max(x, lo), hi)
            value = dataclasses.replace(value, Value=ua.Variant(x, ua.VariantType.Double))
        return await write(nid, attr, value)

    aspace.write_attribute_value = clamping_write


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
