#!/usr/bin/env python3
"""How Aerie runs under QEMU: the one place for the QEMU command line, the
OVMF firmware paths and the exit statuses. scripts/test.py imports it;
`ninja run` runs it.

usage: scripts/qemu.py IMAGE [extra QEMU arguments]
environment: AERIE_MEM (default 256M), AERIE_CPU (default max),
             AERIE_SMP (CPUs, default 2: every CPU runs threads; unless
             the extra arguments give -smp),
             AERIE_DISPLAY=1 to open a window for the framebuffer,
             AERIE_GDB=1 to wait for GDB on localhost:1234,
             AERIE_USB=1 to boot the image as a USB stick (xHCI),
             AERIE_SECURE_BOOT=1 for OVMF with Secure Boot on, trusting
             Debian's test-only snakeoil key (boot build/aerie-signed.img).
The serial console and QEMU's monitor share the terminal: Ctrl-A X quits,
Ctrl-A C switches to the monitor.
"""

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Debian's ovmf package: the firmware, and the variable store each VM copies.
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# Secure Boot: the firmware built with it (its variable store needs SMM),
# and a variable store with Secure Boot on that trusts Debian's test-only
# "snakeoil" key and certificate (never a real machine's key).
OVMF_CODE_SECURE = Path("/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd")
OVMF_VARS_SECURE = Path("/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd")
SNAKEOIL_KEY = Path("/usr/share/ovmf/PkKek-1-snakeoil.key")  # passphrase "snakeoil"
SNAKEOIL_CERT = Path("/usr/share/ovmf/PkKek-1-snakeoil.pem")

# scripts/mkimage.sh puts the EFI System Partition at 1 MiB.
ESP_OFFSET = 1024 * 1024


def _exit_codes():
    """The kernel's isa-debug-exit codes, read from the header it uses."""
    text = (ROOT / "include/kernel/exit_codes.h").read_text()
    codes = dict(re.findall(r"^#define (EXIT_\w+)\s+(0x[0-9a-fA-F]+)", text, re.M))
    # isa-debug-exit turns a write of v into QEMU exit status (v << 1) | 1.
    return {name: (int(value, 16) << 1) | 1 for name, value in codes.items()}


_CODES = _exit_codes()
EXIT_TESTS_PASSED = _CODES["EXIT_TESTS_PASSED"]  # 33
EXIT_TESTS_FAILED = _CODES["EXIT_TESTS_FAILED"]  # 35
EXIT_PANIC = _CODES["EXIT_PANIC"]  # 37


def firmware_missing(secure_boot=False):
    """A message if OVMF (or its Secure Boot build) is not installed, else None."""
    paths = (OVMF_CODE_SECURE, OVMF_VARS_SECURE) if secure_boot else (OVMF_CODE, OVMF_VARS)
    for path in paths:
        if not path.is_file():
            return f"{path} is missing: run scripts/setup.sh"
    return None


def disk_args(image, snap, usb):
    """The image as the machine's only disk: q35's SATA disk, or with usb a
    USB stick (usb-storage on an xHCI controller), as on a laptop."""
    if not usb:
        return ["-drive", f"format=raw,file={image}{snap}"]
    return ["-device", "qemu-xhci", "-drive", f"if=none,id=stick,format=raw,file={image}{snap}",
            "-device", "usb-storage,drive=stick"]


def command(image, vars_file, mem="256M", cpu="max", serial="stdio", monitor="none",
            snapshot=False, usb=False, secure_boot=False, display=False, extra=()):
    """The QEMU command line that boots image under OVMF.

    vars_file is this VM's own copy of the variable store. With snapshot,
    writes to the disk and the variable store go to a temporary overlay, so
    several VMs can share one image. With usb, the image is a USB stick
    instead of the SATA disk. monitor=None leaves QEMU's monitor where
    serial="mon:stdio" puts it. With secure_boot, the snakeoil firmware
    (vars_file must be a copy of OVMF_VARS_SECURE) on a machine with SMM,
    which its authenticated variables need. Without display, no window and
    no VNC server (QEMU's fallback, which parallel boots would fight over);
    screendumps still work.
    """
    snap = ",snapshot=on" if snapshot else ""
    mon = ["-monitor", monitor] if monitor else []
    machine, code, smm = "q35", OVMF_CODE, []
    if secure_boot:
        machine, code = "q35,smm=on", OVMF_CODE_SECURE
        smm = ["-global", "driver=cfi.pflash01,property=secure,value=on"]
    return ["qemu-system-x86_64", "-machine", machine, *smm, "-accel", "tcg", "-cpu", cpu,
            "-m", mem, "-drive", f"if=pflash,format=raw,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,file={vars_file}{snap}",
            *disk_args(image, snap, usb),
            "-net", "none", "-no-reboot", *mon, "-serial", serial,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            *([] if display else ["-display", "none"]), *extra]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    secure_boot = os.environ.get("AERIE_SECURE_BOOT") == "1"
    problem = firmware_missing(secure_boot)
    if problem:
        print(f"qemu.py: {problem}", file=sys.stderr)
        return 1
    extra = ["-s", "-S"] if os.environ.get("AERIE_GDB") == "1" else []
    if "-smp" not in argv[2:]:
        extra += ["-smp", os.environ.get("AERIE_SMP", "2")]
    with tempfile.TemporaryDirectory(prefix="aerie-run-") as tmp:
        vars_file = Path(tmp) / "vars.fd"
        shutil.copyfile(OVMF_VARS_SECURE if secure_boot else OVMF_VARS, vars_file)
        cmd = command(argv[1], vars_file, mem=os.environ.get("AERIE_MEM", "256M"),
                      cpu=os.environ.get("AERIE_CPU", "max"), serial="mon:stdio",
                      monitor=None, snapshot=True, usb=os.environ.get("AERIE_USB") == "1",
                      secure_boot=secure_boot, display=os.environ.get("AERIE_DISPLAY") == "1",
                      extra=extra + argv[2:])
        return os.spawnvp(os.P_WAIT, cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
