#!/usr/bin/env python3
"""Mark a PE32+ EFI application NX-compatible, in place.

usage: scripts/pe_nxcompat.py FILE.efi

Sets IMAGE_DLLCHARACTERISTICS_NX_COMPAT (0x0100) in the optional header's
DllCharacteristics and recomputes the header checksum. objcopy has no option
for it, so the build runs this right after objcopy. Firmware that honours the
bit may map the image's data and fresh allocations non-executable; the loader
copes (efi-loader/nx.c). It refuses anything but a PE32+ image whose sections
are never both writable and executable, since the bit promises exactly that.
"""

import struct
import sys

NX_COMPAT = 0x0100
PE32_PLUS = 0x20B
SCN_MEM_EXECUTE = 0x20000000
SCN_MEM_WRITE = 0x80000000


def pe_checksum(data, checksum_at):
    """The PE header checksum: a folded 16-bit sum of the file, plus its length."""
    body = data[:checksum_at] + b"\0\0\0\0" + data[checksum_at + 4:]
    if len(body) % 2:
        body += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("<H", body):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(data)) & 0xFFFFFFFF


def wx_sections(data, pe, opt_size):
    """Names of sections that are both writable and executable."""
    count = struct.unpack_from("<H", data, pe + 6)[0]
    table = pe + 24 + opt_size
    bad = []
    for i in range(count):
        entry = table + 40 * i
        name = data[entry:entry + 8].rstrip(b"\0").decode("ascii", "replace")
        flags = struct.unpack_from("<I", data, entry + 36)[0]
        if flags & SCN_MEM_EXECUTE and flags & SCN_MEM_WRITE:
            bad.append(name)
    return bad


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    data = bytearray(open(argv[1], "rb").read())
    pe = struct.unpack_from("<I", data, 0x3C)[0] if data[:2] == b"MZ" else None
    if pe is None or data[pe:pe + 4] != b"PE\0\0":
        print(f"pe_nxcompat: {argv[1]}: not a PE image", file=sys.stderr)
        return 1
    opt = pe + 24
    opt_size = struct.unpack_from("<H", data, pe + 20)[0]
    if struct.unpack_from("<H", data, opt)[0] != PE32_PLUS:
        print(f"pe_nxcompat: {argv[1]}: not PE32+", file=sys.stderr)
        return 1
    bad = wx_sections(data, pe, opt_size)
    if bad:
        print(f"pe_nxcompat: {argv[1]}: writable and executable sections: {', '.join(bad)}",
              file=sys.stderr)
        return 1
    # PE32+ optional header: CheckSum at 64, DllCharacteristics at 70.
    flags = struct.unpack_from("<H", data, opt + 70)[0]
    struct.pack_into("<H", data, opt + 70, flags | NX_COMPAT)
    struct.pack_into("<I", data, opt + 64, pe_checksum(bytes(data), opt + 64))
    open(argv[1], "wb").write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
