"""An independent Modbus TCP server (PyPI pymodbus 3.16) for the Modbus source's tests.

Usage: python modbus_server.py PORT

Serves Modbus TCP on 127.0.0.1:PORT only (PORT 0 picks a free port). Prints "READY <port>" on stdout
(flushed) once it accepts connections; runs until killed. Nothing else goes to stdout; pymodbus's own
warnings and errors go to stderr. No root needed; the listening socket has SO_REUSEADDR, so a killed
server can be restarted on the same port at once (the reconnect tests do that).

Addresses below are 0-based protocol addresses (what goes on the wire). "ABCD" is big-endian words and
bytes: the high word first, each word high byte first. "CDAB" is the low word first (bytes in each word
still high first). The raw register words are given so a test can compare exactly.

Unit id 1
  Holding registers (FC 3 read, FC 6/16 write, FC 23 read/write): addresses 0..99 exist; any read or
  write touching address 100 or above answers exception 2 (IllegalDataAddress). Every register is
  writable and a write sticks (read back until something changes it); those not listed are 0.
    0      u16  counter: +1 every 100 ms from 0, wraps 65535 -> 0; counts on from a written value
    1      i16  -1234                        word 0xFB2E
    2..3   u32  100000, ABCD                 words 0x0001 0x86A0
    4..5   f32  230.5, ABCD                  words 0x4366 0x8000
    6..7   f32  230.5, CDAB (words swapped)  words 0x8000 0x4366
    8..11  f64  12345.678, ABCD              words 0x40C8 0x1CD6 0xC8B4 0x3958
    12     u16  0b1010_0000_0000_0101 = 0xA005 = 40965 (bits 0, 2, 13 and 15 set)
    20     u16  freeze control, 0 at start: writing 1 (any non-zero value) stops every changing value
                (registers 0, 21..22 here and unit 2's 0..1) from changing; writing 0 resumes them
                (from where they stopped). Reads back what was written.
    21..22 u32  energy counter, ABCD: +7 every 100 ms from 0, wraps at 2^32; frozen by register 20
  Input registers (FC 4): addresses 0..2 exist; a read touching 3 or above answers exception 2.
    0..1   f32  49.95, ABCD                  words 0x4247 0xCCCD (as f32 exactly 49.95000076293945)
    2      i16  -40                          word 0xFFD8
  Coils (FC 1 read, FC 5/15 write): 0..7 = [1, 0, 1, 1, 0, 0, 0, 1]. pymodbus keeps bits in whole
    16-bit words, so coils 8..15 also exist (read 0, writable); 16 and above answer exception 2.
  Discrete inputs (FC 2): 0..3 = [0, 1, 0, 1]; likewise 4..15 exist and read 0; 16 and above answer
    exception 2.

Unit id 2
  Holding registers: addresses 0..2 exist (writable, a write sticks); 3 and above answer exception 2.
    0..1   u32  ABCD, 5000 at start (words 0x0000 0x1388), +3 every 100 ms, wraps at 2^32; frozen by
                unit 1's register 20
    2      u16  42
  Coils, discrete inputs and input registers: none; every such request answers exception 2.

Any other unit id (0 and 3..255 included): pymodbus 3.16.1 has no device for it and answers exception 4
(SlaveDeviceFailure / ServerDeviceFailure), function code | 0x80, with the request's transaction id and
unit id, and logs an ERROR with a traceback on stderr. It does not drop the connection and does not answer
gateway exception 0x0B (pymodbus's ignore_missing_devices / 0x0B path is not reached with its
SimDevice datastore).

The counters advance in one asyncio task every 100 ms (on the loop clock, without catching up after a
stall); the task reads unit 1's register 20 each tick and changes nothing while it is non-zero.
"""

import asyncio
import struct
import sys

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

TICK_S = 0.1

# Unit 1 holding register addresses.
COUNTER = 0
FREEZE = 20
ENERGY = 21
ENERGY_STEP = 7
# Unit 2 holding register addresses.
U2_COUNTER = 0
U2_COUNTER_START = 5000
U2_COUNTER_STEP = 3

# Modbus function codes (read/write of each table).
FC_READ_HOLDING = 3
FC_WRITE_MULTIPLE = 16
NOT_HOLDING_FCS = {1, 2, 4, 5, 15}  # coils, discrete inputs, input registers


def words(fmt: str, value) -> list[int]:
    """Big-endian (ABCD) 16-bit words of value packed with struct format fmt."""
    raw = struct.pack(">" + fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def unit1() -> SimDevice:
    hr = [0] * 100
    hr[COUNTER] = 0
    hr[1:2] = words("h", -1234)
    hr[2:4] = words("I", 100000)
    hr[4:6] = words("f", 230.5)
    hr[6:8] = list(reversed(words("f", 230.5)))  # CDAB: low word first
    hr[8:12] = words("d", 12345.678)
    hr[12] = 0b1010_0000_0000_0101
    hr[FREEZE] = 0
    hr[ENERGY : ENERGY + 2] = words("I", 0)
    ir = words("f", 49.95) + words("h", -40)
    coils = [True, False, True, True, False, False, False, True]
    discrete = [False, True, False, True]
    return SimDevice(
        id=1,
        # Separate tables: (coils, discrete inputs, holding registers, input registers).
        simdata=(
            [SimData(0, values=coils, datatype=DataType.BITS)],
            [SimData(0, values=discrete, datatype=DataType.BITS)],
            [SimData(0, values=hr, datatype=DataType.REGISTERS)],
            [SimData(0, values=ir, datatype=DataType.REGISTERS)],
        ),
    )


async def holding_only(function_code, _start, _address, _count, _registers, _values):
    """Unit 2 has holding registers only: refuse the other tables with IllegalDataAddress."""
    if function_code in NOT_HOLDING_FCS:
        return ExcCodes.ILLEGAL_ADDRESS
    return None


def unit2() -> SimDevice:
    hr = words("I", U2_COUNTER_START) + [42]
    return SimDevice(
        id=2,
        # pymodbus needs a block for each table; the action refuses every request to the other three.
        simdata=(
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=hr, datatype=DataType.REGISTERS)],
            [SimData(0, datatype=DataType.INVALID)],
        ),
        action=holding_only,
    )


async def add_u32(server: ModbusTcpServer, unit: int, address: int, step: int) -> None:
    hi, lo = await server.async_getValues(unit, FC_READ_HOLDING, address, 2)
    value = ((hi << 16) | lo) + step
    await server.async_setValues(unit, FC_WRITE_MULTIPLE, address, words("I", value & 0xFFFFFFFF))


async def tick(server: ModbusTcpServer) -> None:
    """Advance every changing value by one step unless unit 1's freeze register is non-zero."""
    (frozen,) = await server.async_getValues(1, FC_READ_HOLDING, FREEZE, 1)
    if frozen:
        return
    (count,) = await server.async_getValues(1, FC_READ_HOLDING, COUNTER, 1)
    await server.async_setValues(1, FC_WRITE_MULTIPLE, COUNTER, [(count + 1) & 0xFFFF])
    await add_u32(server, 1, ENERGY, ENERGY_STEP)
    await add_u32(server, 2, U2_COUNTER, U2_COUNTER_STEP)


async def update_loop(server: ModbusTcpServer) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while True:
        deadline += TICK_S
        now = loop.time()
        if deadline < now:  # stalled: go on from now rather than burst to catch up
            deadline = now
        await asyncio.sleep(deadline - now)
        await tick(server)


async def main(port: int) -> None:
    server = ModbusTcpServer([unit1(), unit2()], address=("127.0.0.1", port))
    await server.serve_forever(background=True)  # raises if the port cannot be bound
    bound = server.transport.sockets[0].getsockname()[1]
    updater = asyncio.create_task(update_loop(server))
    print(f"READY {bound}", flush=True)
    await asyncio.gather(server.serving, updater)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: modbus_server.py PORT")
    asyncio.run(main(int(sys.argv[1])))
