#!/bin/sh
# One depfile for a program compiled from several sources in one compiler
# run (the host tests, fuzzers and the bench). `clang -MD -MF` keeps only
# the last source's dependencies there, so a header changed under an
# earlier source would not rebuild the program.
#   usage: depfile.sh OUT COMPILER [FLAGS...] -- INPUTS...
# Writes OUT.d; inputs that are not .c or .S (libraries) are skipped.
set -e
out=$1
shift
cmd=
while [ "$1" != "--" ]; do
	cmd="$cmd $1"
	shift
done
shift
for src; do
	case $src in
	*.c | *.S) $cmd -MM -MT "$out" "$src" ;;
	esac
done >"$out.d"
