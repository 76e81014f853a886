# Sourced by the QEMU scripts: where Debian's ovmf package puts the firmware.
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
if [ ! -r "$OVMF_CODE" ] || [ ! -r "$OVMF_VARS" ]; then
	echo "OVMF firmware not found at $OVMF_CODE: run scripts/setup.sh" >&2
	exit 1
fi
