#!/usr/bin/env bash
# Build Aerie's bootable disk: a raw GPT image with one FAT32 EFI System
# Partition holding /EFI/BOOT/BOOTX64.EFI, /aerie/kernel.elf, /aerie/cmdline.
# `dd` the result to a USB stick and a UEFI laptop boots it.
#
# usage: scripts/mkimage.sh OUT.img BOOTX64.EFI kernel.elf "command line"
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 OUT.img BOOTX64.EFI kernel.elf 'command line'" >&2
	exit 2
fi
out=$1 loader=$2 kernel=$3 cmdline=$4

# 64 MiB disk; the ESP runs from 1 MiB (sector 2048) for 62 MiB, leaving
# room for the backup GPT at the end. FAT32, as the UEFI spec asks of an ESP.
disk_mib=64
esp_start=2048
esp_sectors=$((62 * 2048))

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
esp=$tmp/esp.img
export MTOOLS_SKIP_CHECK=1

mkfs.fat -F 32 -n AERIE -C "$esp" $((esp_sectors / 2)) >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/aerie
mcopy -i "$esp" "$loader" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$kernel" ::/aerie/kernel.elf
printf '%s\n' "$cmdline" >"$tmp/cmdline"
mcopy -i "$esp" "$tmp/cmdline" ::/aerie/cmdline

truncate -s "${disk_mib}M" "$tmp/disk.img"
sgdisk --clear --new=1:$esp_start:$((esp_start + esp_sectors - 1)) \
	--typecode=1:ef00 --change-name=1:"EFI System" "$tmp/disk.img" >/dev/null
dd if="$esp" of="$tmp/disk.img" bs=512 seek=$esp_start conv=notrunc,sparse status=none
mv "$tmp/disk.img" "$out"
