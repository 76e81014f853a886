#!/usr/bin/env bash
# Boot a disk image in QEMU with OVMF, the serial console on this terminal.
# Quit with Ctrl-A X.
#
# usage: scripts/qemu.sh IMAGE [extra QEMU arguments]
# environment: AERIE_MEM (default 256M), AERIE_CPU (default max),
#              AERIE_DISPLAY=1 to open a window for the framebuffer,
#              AERIE_GDB=1 to wait for GDB on localhost:1234.
set -euo pipefail

img=${1:?usage: $0 IMAGE [qemu args]}
shift
here=$(cd "$(dirname "$0")" && pwd)
. "$here/ovmf.sh"

vars=$(mktemp /tmp/aerie-vars.XXXXXX)
trap 'rm -f "$vars"' EXIT
cp "$OVMF_VARS" "$vars"

display=(-display none)
[ "${AERIE_DISPLAY:-0}" = 1 ] && display=()
gdb=()
[ "${AERIE_GDB:-0}" = 1 ] && gdb=(-s -S)

qemu-system-x86_64 -machine q35 -accel tcg -cpu "${AERIE_CPU:-max}" -m "${AERIE_MEM:-256M}" \
	-drive if=pflash,format=raw,readonly=on,file="$OVMF_CODE" \
	-drive if=pflash,format=raw,file="$vars" \
	-drive format=raw,file="$img",snapshot=on \
	-net none -no-reboot -serial mon:stdio "${display[@]}" "${gdb[@]}" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 "$@"
