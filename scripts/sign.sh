#!/usr/bin/env bash
# `ninja sign`: sign the loader for Secure Boot with the user's key and
# certificate, and build an image that boots the signed loader:
#   build/BOOTX64.signed.efi  (sbsign, from Debian's sbsigntool)
#   build/aerie-signed.img    (scripts/mkimage.sh, same kernel and cmdline)
# The default build stays unsigned and reproducible. The loader inside is
# pinned to build/kernel.elf's SHA-256, so the signature covers the kernel
# too (docs/design.md, Secure Boot chain of trust).
#
# environment: AERIE_SIGN_KEY  PEM private key (e.g. your enrolled db key)
#              AERIE_SIGN_CERT PEM certificate of that key
set -euo pipefail

if [ -z "${AERIE_SIGN_KEY:-}" ] || [ -z "${AERIE_SIGN_CERT:-}" ]; then
	cat >&2 <<-'MSG'
	sign.sh: set AERIE_SIGN_KEY and AERIE_SIGN_CERT to the PEM key and certificate to
	sign with, e.g. for QEMU's test key from Debian's ovmf package (never for a real machine):
	  AERIE_SIGN_KEY=/usr/share/ovmf/PkKek-1-snakeoil.key \
	  AERIE_SIGN_CERT=/usr/share/ovmf/PkKek-1-snakeoil.pem ninja sign
	MSG
	exit 1
fi
for f in "$AERIE_SIGN_KEY" "$AERIE_SIGN_CERT"; do
	[ -r "$f" ] || { echo "sign.sh: cannot read $f" >&2; exit 1; }
done
command -v sbsign >/dev/null || { echo "sign.sh: sbsign is missing: run scripts/setup.sh" >&2; exit 1; }

# sbsign notes the bytes objcopy leaves after the last PE section ("gaps
# between PE/COFF sections"): Authenticode hashes them too, and firmware
# verifies the result (tests: scripts/secureboot.py), so that note is dropped.
rm -f build/BOOTX64.signed.efi
sbsign --key "$AERIE_SIGN_KEY" --cert "$AERIE_SIGN_CERT" --output build/BOOTX64.signed.efi \
	build/BOOTX64.EFI 2>&1 | grep -v -e '^Signing Unsigned original image$' \
	-e 'gaps between PE/COFF sections' >&2 || true
[ -s build/BOOTX64.signed.efi ] || { echo "sign.sh: sbsign failed" >&2; exit 1; }
scripts/mkimage.sh build/aerie-signed.img build/BOOTX64.signed.efi build/kernel.elf "loglevel=info"
echo "sign.sh: build/BOOTX64.signed.efi and build/aerie-signed.img"
