#!/usr/bin/env python3
"""`ninja debug`: boot the image (KASLR on) with QEMU's GDB stub, wait for
`aerie: ready` on serial, then run GDB attached to it with
scripts/gdb_aerie.py, which finds this boot's slide from the GS base, checks
that the running kernel is build/kernel.elf and loads its symbols there.

usage: scripts/debug.py [IMAGE]   (default build/aerie.img)
environment: AERIE_MEM, AERIE_CPU, AERIE_DISPLAY=1 as for scripts/qemu.py.
The serial log goes to build/debug-serial.log (`tail -f` it in another
terminal); quitting GDB stops QEMU.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import qemu

READY = b"aerie: ready"
READY_TIMEOUT = 120
SERIAL_LOG = qemu.ROOT / "build/debug-serial.log"


def wait_ready(proc, log):
    """Wait until the serial log shows READY; False if QEMU exits or time runs out."""
    deadline = time.monotonic() + READY_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if log.exists() and READY in log.read_bytes():
            return True
        time.sleep(0.1)
    return False


def main(argv):
    image = argv[1] if len(argv) > 1 else str(qemu.ROOT / "build/aerie.img")
    problem = qemu.firmware_missing() or (None if shutil.which("gdb") else "gdb is missing")
    if problem:
        print(f"debug.py: {problem}: run scripts/setup.sh", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="aerie-debug-") as tmp:
        vars_file, sock = Path(tmp) / "vars.fd", Path(tmp) / "gdb.sock"
        shutil.copyfile(qemu.OVMF_VARS, vars_file)
        cmd = qemu.command(image, vars_file, mem=os.environ.get("AERIE_MEM", "256M"),
                           cpu=os.environ.get("AERIE_CPU", "max"), serial=f"file:{SERIAL_LOG}",
                           snapshot=True, display=os.environ.get("AERIE_DISPLAY") == "1",
                           extra=["-gdb", f"unix:{sock},server=on,wait=off"])
        SERIAL_LOG.unlink(missing_ok=True)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        try:
            print(f"debug.py: booting {image}; serial log in {SERIAL_LOG}")
            if not wait_ready(proc, SERIAL_LOG):
                print("debug.py: the kernel did not reach `aerie: ready`; see the serial log",
                      file=sys.stderr)
                return 1
            return subprocess.call(["gdb", "-q", "-x", str(qemu.ROOT / "scripts/gdb_aerie.py"),
                                    "-ex", f"target remote {sock}", "-ex", "aerie-symbols"],
                                   cwd=qemu.ROOT)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
