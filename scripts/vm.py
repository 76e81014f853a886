"""Booting Aerie's image in QEMU for scripts/test.py, two ways.

A plain boot starts the firmware from reset: OVMF's boot manager finds
\\EFI\\BOOT\\BOOTX64.EFI on the disk, exactly as on a laptop.

A shell session starts from a saved machine. OVMF takes seconds to reach a
UEFI application under TCG, and most scenarios differ only in what the
loader is told, so the firmware runs once: save_shell() boots a disk without
BOOTX64.EFI into OVMF's built-in UEFI shell and saves the whole machine
(RAM and devices, through QEMU's migration to a file) at the shell prompt.
ShellSession restores that state (a fraction of a second) and types command
lines at the prompt, such as `loader ktest` in FS0:\\aerie\\: the real
loader, read from the disk by the firmware, boots the real kernel. A loader
that refuses its kernel returns to the shell, so one session can run the
loader many times.
"""

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import qemu

# How long the restored shell gets to answer, and a loader run to return.
SHELL_TIMEOUT = 30
# After the expected line, the time QEMU gets to show what it should not print.
GRACE = 0.5
POLL = 0.02


def clean_serial(raw):
    """Serial bytes as text: drop the firmware's terminal escapes and carriage returns."""
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z=]|\x1b\[=[0-9]+h", "", text)
    return text.replace("\r", "")


class Console:
    """A QEMU whose serial port is this object's stdin/stdout pipe."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.raw = b""
        self.start = time.monotonic()

    def text(self):
        """Everything the serial port printed so far, cleaned."""
        data = self.proc.stdout.read()
        if data:
            self.raw += data
        return clean_serial(self.raw)

    def type(self, line):
        """Send keys, one at a time as a person would (the UART has a small FIFO)."""
        for byte in line.encode():
            self.proc.stdin.write(bytes([byte]))
            self.proc.stdin.flush()
            time.sleep(0.001)

    def wait_for(self, pattern, timeout, since=0, keys=None):
        """Wait until pattern appears in the log after offset since, or QEMU exits.

        If keys is given, they are sent every 100 ms while waiting. Returns the
        match or None.
        """
        deadline = time.monotonic() + timeout
        next_keys = 0.0
        while True:
            m = re.compile(pattern, re.M).search(self.text(), since)
            if m or self.proc.poll() is not None or time.monotonic() >= deadline:
                return m or re.compile(pattern, re.M).search(self.text(), since)
            if keys and time.monotonic() >= next_keys:
                self.type(keys)
                next_keys = time.monotonic() + 0.1
            time.sleep(POLL)

    def wait_exit(self, timeout):
        """QEMU's exit status, or None if it is still running after timeout."""
        try:
            return self.proc.wait(timeout=max(timeout, 0))
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """Kill QEMU if it runs; return its stderr text."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        err = self.proc.stderr.read().decode("utf-8", "replace")
        self.text()
        return err

    def elapsed(self):
        return time.monotonic() - self.start


def boot(image, vars_file, stop_on=None, timeout=90, **qemu_args):
    """A plain boot of image; returns (exit status or None, serial log, seconds).

    If stop_on (a regex) appears in the log, QEMU gets GRACE more seconds to
    show anything it should not, and is then stopped.
    """
    con = Console(qemu.command(image, vars_file, **qemu_args))
    status = None
    if stop_on:
        if con.wait_for(stop_on, timeout):
            status = con.wait_exit(GRACE)
    else:
        status = con.wait_exit(timeout)
    err = con.stop()
    log = con.text() + (f"\n[qemu stderr]\n{err}" if err.strip() else "")
    return status, log, con.elapsed()


def _qmp_open(path, proc, timeout=30):
    """A QMP connection to the QEMU process proc at the socket path, past
    the greeting and capabilities negotiation. QEMU creates the socket file
    before it listens on it, so a refused connection right after start is
    retried (while proc runs, up to timeout seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.connect(str(path))
            break
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(POLL)
    sock.recv(65536)  # the greeting
    _qmp(sock, "qmp_capabilities")
    return sock


def _qmp(sock, command, **arguments):
    """Send one QMP command and return its answer (skipping events)."""
    msg = {"execute": command}
    if arguments:
        msg["arguments"] = arguments
    sock.sendall(json.dumps(msg).encode() + b"\n")
    buf = b""
    while True:
        buf += sock.recv(65536)
        for line in buf.split(b"\n"):
            if line.strip():
                answer = json.loads(line)
                if "return" in answer or "error" in answer:
                    return answer
        buf = buf[buf.rfind(b"\n") + 1:]


def boot_no_serial(image, vars_file, shot, read_screen, until, timeout=90, **qemu_args):
    """A plain boot with no serial port at all (-serial none): only the
    screen tells what happens. Takes a screenshot into shot every SHOT_EVERY
    seconds and reads its text with read_screen(shot) -> lines, until the
    regex until matches it or QEMU exits. Returns (lines, seconds, stderr)."""
    qmp = Path(shot).with_suffix(".qmp")
    cmd = qemu.command(image, vars_file, serial="none", snapshot=True,
                       extra=["-qmp", f"unix:{qmp},server=on,wait=off"], **qemu_args)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    start, lines = time.monotonic(), []
    try:
        with _qmp_open(qmp, proc) as sock:
            while proc.poll() is None and time.monotonic() - start < timeout:
                time.sleep(SHOT_EVERY)
                if "return" in _qmp(sock, "screendump", filename=str(shot)):
                    lines = read_screen(shot)
                    if re.search(until, "\n".join(lines), re.M):
                        break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return lines, time.monotonic() - start, proc.stderr.read().decode("utf-8", "replace")


# How often boot_no_serial looks at the screen.
SHOT_EVERY = 0.5

PROMPT = r"(Shell|FS\d+:\\[^>\n]*)> "

# The shell takes about one typed key per 10 ms: keep typed lines short.


def save_shell(image, vars_file, state, setup=(), timeout=90, **qemu_args):
    """Boot image (no BOOTX64.EFI on it) to the UEFI shell's prompt, type the
    setup lines, and save the machine to the file state. Returns (ok, log,
    seconds)."""
    qmp_path = Path(state).with_suffix(".qmp")
    cmd = qemu.command(image, vars_file, monitor="none", snapshot=True,
                       extra=["-qmp", f"unix:{qmp_path},server=on,wait=off"], **qemu_args)
    con = Console(cmd)
    # Any key but Esc skips the shell's 5-second wait for startup.nsh.
    if con.wait_for(r"Press ESC in \d+ seconds", timeout):
        con.type(" ")
    ok = con.wait_for(PROMPT + r"$", timeout) is not None
    for line in setup:
        if ok:
            since = len(con.text())
            con.type(line + "\r")
            ok = con.wait_for(PROMPT + r"$", timeout, since=since) is not None
    if ok:
        with _qmp_open(qmp_path, con.proc) as sock:
            _qmp(sock, "migrate", uri=f"exec:cat > {state}")
            while _qmp(sock, "query-migrate")["return"].get("status") not in (
                    "completed", "failed", "cancelled"):
                time.sleep(POLL)
            ok = _qmp(sock, "query-migrate")["return"].get("status") == "completed"
    err = con.stop()
    log = con.text() + (f"\n[qemu stderr]\n{err}" if err.strip() else "")
    return ok, log, con.elapsed()


class ShellSession:
    """A machine restored at the UEFI shell's prompt, driven by typed lines."""

    def __init__(self, image, vars_file, state, qmp=None, debug_exit=True, extra=(),
                 **qemu_args):
        """qmp: a socket path for QMP (screenshots), or None for no QMP.
        Without debug_exit, the kernel cannot exit QEMU: a panic stays on
        screen (the device holds no state, so the machine still restores).
        extra: more QEMU arguments (such as a GDB stub)."""
        extra = ["-incoming", f"exec:cat {state}", *extra]
        if qmp:
            extra += ["-qmp", f"unix:{qmp},server=on,wait=off"]
        self.qmp = qmp
        cmd = qemu.command(image, vars_file, snapshot=True, extra=extra, **qemu_args)
        if not debug_exit:
            i = next(i for i, arg in enumerate(cmd) if arg.startswith("isa-debug-exit"))
            del cmd[i - 1:i + 1]
        self.con = Console(cmd)
        # Keys typed before the restore completes are lost: press Enter until
        # the shell answers with a fresh prompt.
        self.ready = self.con.wait_for(PROMPT, SHELL_TIMEOUT, keys="\r") is not None
        self.mark = len(self.con.text())

    def run(self, line, until=None, grace=GRACE, timeout=SHELL_TIMEOUT):
        """Type line; wait for the regex until (or QEMU's exit if None), then
        grace seconds more for anything that should not be printed.

        Returns (exit status or None, the log since the line was typed, seconds).
        """
        start = time.monotonic()
        self.mark = len(self.con.text())
        self.con.type(line + "\r")
        status = None
        if until:
            if self.con.wait_for(until, timeout, since=self.mark):
                status = self.con.wait_exit(grace) if grace else None
        else:
            status = self.con.wait_exit(timeout)
        return status, self.con.text()[self.mark:], time.monotonic() - start

    def alive(self):
        return self.con.proc.poll() is None

    def screendump(self, path):
        """Save the screen as a PPM file (QMP screendump); True if it worked."""
        with _qmp_open(self.qmp, self.con.proc) as sock:
            return "return" in _qmp(sock, "screendump", filename=str(path))

    def close(self):
        err = self.con.stop()
        return err if err.strip() else ""
