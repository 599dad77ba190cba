#!/usr/bin/env bash
# Optional Debian packages: more TTS voices for `codec2vec corpus synth` (flite; festival with its
# kal, ked and slt voices and the CMU lexicon) and the Codec 2 classical peer for `codec2vec codec
# eval` (codec2).
# Installs them when running as root with apt-get; otherwise says what to install. Never fails the build:
# everything codec2vec needs also works without them (espeak-ng comes from PyPI).
set -u
PACKAGES="flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festlex-cmu codec2"
missing=""
for p in $PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages:$missing"
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1; then
    exit 0
  fi
  echo "NOTE: apt-get could not install$missing; continuing without them (fewer synthetic voices, no Codec 2 peer)."
else
  echo "NOTE: optional Debian packages not installed:$missing"
  echo "      For more synthetic voices and the Codec 2 peer run: sudo apt-get install$missing"
fi
exit 0
