"""Secure Boot's tests and the loader's kernel pin, for scripts/test.py.

The loader carries the SHA-256 of the kernel it was built with after a
marker (efi-loader/verify.c). pin_loader makes the copy of the loader the
build would have made for another kernel: the shell tests of the ELF checks
run each bad kernel under a loader pinned to it, so the ELF checks behind
the pin stay tested at boot level, while the shipped loader refuses them all
by the pin.

secure_boot_job boots OVMF with Secure Boot on (Debian's test-only snakeoil
key) once, with three disks the firmware tries in order: an unsigned loader
(the firmware refuses it: "Access Denied"), a signed loader beside a kernel with one byte
flipped (the loader refuses it by the pin and returns to the firmware), and
the signed image with weakening options in /aerie/cmdline (it boots, says
Secure Boot is on and ignores them with a warning each).
"""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import qemu

PIN_MARKER = b"AERIE-KERNEL-SHA256-PIN\0"


def pin_loader(loader, kernel):
    """loader (PE bytes) with its pinned digest replaced by kernel's SHA-256."""
    at = loader.find(PIN_MARKER)
    if at < 0 or loader.find(PIN_MARKER, at + 1) >= 0:
        raise ValueError("the loader has no single kernel pin marker")
    at += len(PIN_MARKER)
    return loader[:at] + hashlib.sha256(kernel).digest() + loader[at + 32:]


def hash_refusal(path, pinned_kernel, found_kernel):
    """The loader's error (after "error: ") when found_kernel is not the pinned one."""
    want = hashlib.sha256(pinned_kernel).hexdigest()[:16]
    found = hashlib.sha256(found_kernel).hexdigest()[:16]
    return (f"kernel refused: {path} is not the kernel this loader was built with "
            f"(SHA-256 expected {want}..., found {found}...)")


def sign(workdir, loader):
    """The loader signed with the snakeoil key (decrypted into workdir), or an
    exception saying what is missing."""
    if not shutil.which("sbsign"):
        raise RuntimeError("sbsign is missing: run scripts/setup.sh (sbsigntool)")
    key, unsigned, signed = (Path(workdir) / n for n in ("snakeoil.key", "u.efi", "s.efi"))
    subprocess.run(["openssl", "pkey", "-in", str(qemu.SNAKEOIL_KEY), "-passin",
                    "pass:snakeoil", "-out", str(key)], check=True, capture_output=True)
    unsigned.write_bytes(loader)
    subprocess.run(["sbsign", "--key", str(key), "--cert", str(qemu.SNAKEOIL_CERT),
                    "--output", str(signed), str(unsigned)], check=True, capture_output=True)
    return signed.read_bytes()


def flip_one_byte(kernel):
    """The kernel with one byte in the middle of the file inverted."""
    mid = len(kernel) // 2
    return kernel[:mid] + bytes([kernel[mid] ^ 0xff]) + kernel[mid + 1:]


# Options that weaken a protection: with Secure Boot on, each is ignored.
WEAKENING = ["nokaslr", "nosmep", "crash=null", "loglevel=debug"]
UNSIGNED_REFUSED = (r"^BdsDxe: failed to load Boot\d+ \"[^\"\n]*\" from [^\n]*: "
                    r"Access Denied$")


def expectation(kernel):
    """The whole log, in order: firmware refusal, pin refusal, then a boot."""
    flipped = re.escape(hash_refusal("/aerie/kernel.elf", kernel, flip_one_byte(kernel)))
    warnings = "".join(rf"^aerie-loader: warning: Secure Boot: \"{re.escape(o)}\" ignored$\n"
                       for o in WEAKENING)
    return (rf"(?s){UNSIGNED_REFUSED}.*^aerie-loader: Secure Boot: on$.*"
            rf"^aerie-loader: error: {flipped}$.*"
            rf"^aerie-loader: Secure Boot: on$\n{warnings}"
            r"^aerie-loader: command line: \"\"$.*^aerie: cpu: WP on, NX on, SMEP on.*"
            r"^aerie: Secure Boot: on$\n^aerie: KASLR: on;.*^aerie: ready$")


def drive(path, n):
    """path as an extra SATA disk the firmware tries n-th (bootindex n)."""
    return ["-drive", f"if=none,id=sb{n},format=raw,file={path},snapshot=on",
            "-device", f"ide-hd,drive=sb{n},bus=ide.{n + 1},bootindex={n}"]


def secure_boot_job(workdir, make_disk, vm, check_log, build, timeout):
    """One Secure Boot firmware boot over three disks; see the module's doc."""
    kernel = (build / "kernel.elf").read_bytes()
    signed = sign(workdir, (build / "BOOTX64.EFI").read_bytes())
    unsigned = make_disk(workdir, "sb-unsigned")
    unsigned.put("/aerie/cmdline", b"errorwait=0\n")
    flipped = make_disk(workdir, "sb-flipped")
    flipped.put("/EFI/BOOT/BOOTX64.EFI", signed)
    flipped.put("/aerie/kernel.elf", flip_one_byte(kernel))
    flipped.put("/aerie/cmdline", b"errorwait=0\n")
    good = make_disk(workdir, "sb-good")
    good.put("/EFI/BOOT/BOOTX64.EFI", signed)
    good.put("/aerie/cmdline", (" ".join(WEAKENING) + "\n").encode())
    vars_file = Path(workdir) / "sb.vars"
    shutil.copyfile(qemu.OVMF_VARS_SECURE, vars_file)
    expect = expectation(kernel)
    _, log, elapsed = vm.boot(good.path, vars_file, stop_on=r"^aerie: ready$", timeout=timeout,
                              snapshot=True, secure_boot=True,
                              extra=drive(unsigned.path, 0) +
                              drive(flipped.path, 1))
    problems = check_log(log, expect, [r"panic"])
    return [(f"boot: Secure Boot (snakeoil OVMF): the firmware refuses an unsigned loader, "
             f"the signed loader refuses a kernel with one byte flipped, and the signed image "
             f"boots with Secure Boot on, ignoring {', '.join(WEAKENING)} ({elapsed:.1f} s)",
             not problems, "; ".join(problems), log if problems else None)]
