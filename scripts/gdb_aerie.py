"""GDB helper for Aerie with KASLR on: find this boot's slide from the
machine itself, load build/kernel.elf's symbols there, and check that the
running kernel is that file.

Sourced by GDB (`gdb -x scripts/gdb_aerie.py`, as `ninja debug` does); it
adds one command, run once attached to QEMU's GDB stub:

    aerie-symbols [KERNEL_ELF]

The anchor is the GS base: _start (arch/x86_64/entry.S) sets IA32_GS_BASE
to the boot CPU's per-CPU area `percpu_boot` before any C runs, and the
kernel links at 0, so slide = $gs_base - st_value(percpu_boot) ($k_gs_base
when the machine stopped in ring 3, where the two are swapped). The check
reads the first VERIFY_BYTES bytes of `kmain` from the live machine and
compares them with the same bytes in the file.

With `nokaslr` the slide is the fixed kernel base (include/mm/layout.h), and
this command finds the same value.
"""

import struct
from pathlib import Path

try:
    import gdb

    Error = gdb.GdbError
except ImportError:  # imported by scripts/test.py, outside GDB
    gdb = None
    Error = RuntimeError

ANCHOR = "percpu_boot"
VERIFY_SYMBOL = "kmain"
VERIFY_BYTES = 32
DEFAULT_ELF = "build/kernel.elf"

SHT_SYMTAB = 2
SHT_NOBITS = 8


class KernelElf:
    """The sections and the static symbol table of an ELF64 little-endian file."""

    def __init__(self, path):
        self.data = Path(path).read_bytes()
        if self.data[:4] != b"\x7fELF" or self.data[4] != 2 or self.data[5] != 1:
            raise Error(f"aerie: {path} is not a 64-bit little-endian ELF file")
        shoff, = struct.unpack_from("<Q", self.data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", self.data, 0x3a)
        # Section headers: (type, addr, offset, size, link, entsize).
        self.sections = []
        for i in range(shnum):
            fields = struct.unpack_from("<IIQQQQIIQQ", self.data, shoff + i * shentsize)
            _, sh_type, _, addr, off, size, link, _, _, entsize = fields
            self.sections.append((sh_type, addr, off, size, link, entsize))
        self.symbols = self._symbols()

    def _symbols(self):
        """name -> (value, section index) for every symbol in .symtab."""
        symtab = next((s for s in self.sections if s[0] == SHT_SYMTAB), None)
        if symtab is None:
            raise Error("aerie: the kernel file has no symbol table (stripped?)")
        _, _, off, size, link, entsize = symtab
        strtab = self.sections[link][2]
        symbols = {}
        for pos in range(off, off + size, entsize):
            name_off, _, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", self.data, pos)
            end = self.data.index(b"\0", strtab + name_off)
            symbols[self.data[strtab + name_off:end].decode()] = (value, shndx)
        return symbols

    def value(self, name):
        if name not in self.symbols:
            raise Error(f"aerie: the kernel file has no symbol {name}")
        return self.symbols[name][0]

    def file_offset(self, name, count):
        """Where in the file the count bytes at symbol name lie."""
        value, shndx = self.symbols[name]
        sh_type, addr, off, size, _, _ = self.sections[shndx]
        if sh_type == SHT_NOBITS or value - addr + count > size:
            raise Error(f"aerie: {name} has no {count} bytes in the file")
        return off + value - addr

    def bytes_at(self, name, count):
        """The count bytes the file holds at symbol name (in its section's contents)."""
        start = self.file_offset(name, count)
        return self.data[start:start + count]


def read_register(name):
    return int(gdb.parse_and_eval(f"${name}")) & 0xFFFFFFFFFFFFFFFF


def live_slide(elf):
    """This boot's slide: the kernel's GS base minus percpu_boot's link-time
    address. Stopped in ring 3 (or between SWAPGS and the return), the
    kernel's GS base waits in IA32_KERNEL_GS_BASE, which QEMU shows as
    $k_gs_base; a kernel GS base is an upper-half address."""
    for name in ("gs_base", "k_gs_base"):
        base = read_register(name)
        if base >> 63:
            return base - elf.value(ANCHOR)
    raise Error("aerie: no kernel GS base yet: the kernel has not reached _start "
                "(continue until `aerie: ready`, then interrupt)")


def verify(elf, slide):
    """Stop with a clear error unless the live kmain is the file's kmain."""
    address = slide + elf.value(VERIFY_SYMBOL)
    try:
        live = bytes(gdb.selected_inferior().read_memory(address, VERIFY_BYTES))
    except gdb.MemoryError:
        raise Error(f"aerie: cannot read {VERIFY_SYMBOL} at {address:#x}: "
                           "the running kernel is not build/kernel.elf (or not running)")
    if live != elf.bytes_at(VERIFY_SYMBOL, VERIFY_BYTES):
        raise Error(f"aerie: the first {VERIFY_BYTES} bytes of {VERIFY_SYMBOL} differ: "
                           "the running kernel is not build/kernel.elf (rebuild, or boot "
                           "this build's image)")


def load_symbols(path):
    """Find the slide, check the kernel, load path's symbols at the slide."""
    elf = KernelElf(path)
    slide = live_slide(elf)
    verify(elf, slide)
    confirm = gdb.parameter("confirm")
    gdb.execute("set confirm off")
    try:
        gdb.execute(f"add-symbol-file {path} -o {slide:#x}", to_string=True)
    finally:
        gdb.execute(f"set confirm {'on' if confirm else 'off'}")
    print(f"aerie: kernel slide {slide:#x} (from the GS base); "
          f"{path} matches the running kernel; symbols loaded")


def register():
    """Add aerie-symbols to GDB (a gdb.Command subclass exists only inside GDB)."""

    class AerieSymbols(gdb.Command):
        """aerie-symbols [KERNEL_ELF]: find the running kernel's slide from its
        GS base, check that it runs KERNEL_ELF (default build/kernel.elf), and
        load the file's symbols at that slide."""

        def __init__(self):
            super().__init__("aerie-symbols", gdb.COMMAND_FILES)

        def invoke(self, arg, from_tty):
            load_symbols(arg.strip() or DEFAULT_ELF)

    AerieSymbols()


if gdb is not None:
    register()
