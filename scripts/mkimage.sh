#!/usr/bin/env bash
# Build Aerie's bootable disk: a raw GPT image with one FAT32 EFI System
# Partition holding /EFI/BOOT/BOOTX64.EFI, /aerie/kernel.elf, /aerie/cmdline.
# `dd` the result to a USB stick and a UEFI laptop boots it.
#
# Reproducible: the same three inputs give the same image, byte for byte, on
# any machine, in any directory, at any time (docs/design.md). Nothing comes
# from the clock or a random source: the FAT serial and the GPT GUIDs are
# constants, and every FAT timestamp is SOURCE_DATE_EPOCH (default below).
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

# Fixed identities: every copy of the image is the same disk. The FAT volume
# serial and the GPT disk and partition GUIDs were drawn once, at random.
fat_serial=4201504e
disk_guid=d4e00fe8-7935-4433-a86f-f36261d3fd94
esp_guid=69ddd07d-bcb2-4047-ba27-d5f1c2f69cd8

# mtools stamps directories and files with SOURCE_DATE_EPOCH when it is set
# (instead of now), in local time, which FAT stores: hence TZ=UTC.
# 946684800 is 2000-01-01 00:00:00 UTC.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-946684800} TZ=UTC
export MTOOLS_SKIP_CHECK=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
esp=$tmp/esp.img

# mkfs.fat ignores SOURCE_DATE_EPOCH: --invariant keeps its own time and
# randomness out, and the label is written by mlabel, which honours it.
mkfs.fat --invariant -F 32 -i $fat_serial -C "$esp" $((esp_sectors / 2)) >/dev/null
mlabel -i "$esp" ::AERIE
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/aerie
mcopy -i "$esp" "$loader" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$kernel" ::/aerie/kernel.elf
printf '%s\n' "$cmdline" >"$tmp/cmdline"
mcopy -i "$esp" "$tmp/cmdline" ::/aerie/cmdline

truncate -s "${disk_mib}M" "$tmp/disk.img"
sgdisk --clear --disk-guid=$disk_guid --new=1:$esp_start:$((esp_start + esp_sectors - 1)) \
	--typecode=1:ef00 --partition-guid=1:$esp_guid --change-name=1:"EFI System" \
	"$tmp/disk.img" >/dev/null
dd if="$esp" of="$tmp/disk.img" bs=512 seek=$esp_start conv=notrunc,sparse status=none
mv "$tmp/disk.img" "$out"
