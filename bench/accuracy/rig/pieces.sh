#!/usr/bin/env bash
# The model in pieces that fit one device call each, here after ../shared/gpu/prepare.sh:
#   bash bench/accuracy/rig/pieces.sh [DIR]   (DIR: the .gpu folder, default .gpu)
# prepare.sh's 27 parts are joined and cut again into pieces of PIECE bytes (default
# 56 MiB) under DIR/chunks (c00, c01, ...; the parts are removed): a call carries 64 MiB
# with the working tree (~5 MB tracked), and session 7's 59 MiB parts no longer fitted.
# On the machine each call copies its piece to /tmp/g/chunks (the first, after start.sh:
# mkdir -p /tmp/g/chunks && cp .gpu/chunks/c?? /tmp/g/chunks/); run_all.sh joins them
# into /tmp/g/parts/p00, which serve.sh checks against the model's sha256.
set -eu
DIR=${1:-.gpu}; PIECE=${PIECE:-58720256}
ls "$DIR"/parts/p?? > /dev/null
mkdir -p "$DIR/chunks"; rm -f "$DIR"/chunks/c??
cat "$DIR"/parts/p?? | split -b "$PIECE" -d -a 2 - "$DIR/chunks/c"
rm "$DIR"/parts/p??
last=$(ls "$DIR"/chunks | tail -1)
echo "$(ls "$DIR"/chunks | wc -l) pieces in $DIR/chunks; carry $last with start.sh's call:"
echo "  carry [.gpu/bin, .gpu/whl, .gpu/llama.cpp.tar.xz, .gpu/chunks/$last]"
echo "  bash .gpu/bin/start.sh && mkdir -p /tmp/g/chunks && cp .gpu/chunks/c?? /tmp/g/chunks/"
echo "then one call per other piece, back to back (the machine goes back 30 s after a call):"
echo "  carry [.gpu/chunks/cNN]   cp .gpu/chunks/c?? /tmp/g/chunks/ && ls /tmp/g/chunks"
