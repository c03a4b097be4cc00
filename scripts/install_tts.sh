#!/usr/bin/env bash
# Install the Debian/Ubuntu text-to-speech engines and voices that `mmpriv data build hearsay-tts`
# renders the bundled HearSay mini set with (mmpriv_tasks/bundled/hearsay/). Only needed to
# REGENERATE that set; running the tasks and the tests uses the committed parquet files.
#
#   sudo scripts/install_tts.sh        # or run as root
#
# Engines: espeak-ng (accent voices: other languages' phoneme rules reading English),
# flite (slt female; kal, awb, rms male) and festival (kal/kdl diphone male, us-slt HTS female).
set -euo pipefail

PACKAGES=(
  espeak-ng            # formant synthesiser, ~100 language voices + female/male variants
  flite                # Festival-Lite: cmu_us_slt (F), cmu_us_kal/awb/rms (M) built in
  festival             # Festival speech synthesis system
  festvox-kallpc16k    # American English male (kal), 16 kHz diphone voice
  festvox-kdlpc16k     # American English male (kdl), 16 kHz diphone voice
  festvox-us-slt-hts   # US English female (slt), HTS voice
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_tts.sh: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"

echo "installed:"
espeak-ng --version | head -n 1
flite --version 2>&1 | head -n 1
echo "festival $(festival --version 2>&1 | head -n 1)"
