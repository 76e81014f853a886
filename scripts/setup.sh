#!/usr/bin/env bash
# Install everything Aerie needs on Debian 12 (idempotent). Runs as root, or
# through sudo. Nothing is downloaded except Debian packages.
set -euo pipefail

packages=(
	clang lld llvm libclang-rt-14-dev # compiler, linker, sanitizer/fuzzer runtimes
	libboost-context-dev              # `ninja bench`: Boost.Context, the switch reference
	libjemalloc-dev                   # `ninja bench`: jemalloc, a heap reference (dlopen)
	libmimalloc-dev                   # `ninja bench`: mimalloc, a heap reference (dlopen)
	gnu-efi binutils                  # UEFI headers, crt0, ELF-to-PE objcopy
	ovmf qemu-system-x86              # firmware and emulator
	mtools dosfstools gdisk           # the FAT32 ESP and the GPT disk image
	fonts-spleen                      # the screen console's font (scripts/psf2c.py)
	ninja-build python3               # build and test driver
	gdb                               # `ninja debug` and the GDB test (scripts/gdb_aerie.py)
	sbsigntool openssl                # `ninja sign`, the Secure Boot test (scripts/secureboot.py)
)

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "setup.sh: run as root or install sudo" >&2; exit 1; }
	sudo=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "setup.sh: all packages present"
	exit 0
fi
echo "setup.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	"${missing[@]}" >/dev/null
echo "setup.sh: done"
