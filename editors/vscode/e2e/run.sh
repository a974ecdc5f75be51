#!/usr/bin/env bash
# The extension in a real VS Code: installs code-server 4.96.4 (the VS Code
# 1.96 workbench, runs on Node 20) and puppeteer-core into a scratch folder,
# then runs e2e/test.mjs, which installs the given platform .vsix, starts
# code-server and drives Debian's chromium through it.
#
#   editors/vscode/e2e/run.sh path/to/redline-linux-x64.vsix
#
# Needs Node 20 with npm, a C/C++ toolchain (node-gyp rebuilds code-server's
# native modules against /usr/include/node), git, and /usr/bin/chromium
# (Debian's `chromium`). Nothing is cached: the scratch folder is removed at
# the end unless REDLINE_E2E_KEEP=1.
set -euo pipefail

vsix=$(realpath "${1:?usage: e2e/run.sh path/to/redline-linux-x64.vsix}")
here=$(cd "$(dirname "$0")" && pwd)
CODE_SERVER=4.96.4
PUPPETEER=24.43.1

say() { printf 'vscode-e2e: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || { say "code-server $CODE_SERVER needs Node 20; this is Node $(node --version)"; exit 1; }
[ -x /usr/bin/chromium ] || { say "/usr/bin/chromium is missing: apt-get install chromium"; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/redline-vscode-e2e.XXXXXX")
cleanup() { [ "${REDLINE_E2E_KEEP:-0}" = 1 ] && say "kept $scratch" || rm -rf "$scratch"; }
trap cleanup EXIT
start=$(now)

t=$(now)
cd "$scratch"
echo '{"name":"redline-vscode-e2e","private":true}' >package.json
# --ignore-scripts: code-server's postinstall would fetch its git dependency
# over ssh and download ripgrep; what it needs is done below instead.
npm install --no-audit --no-fund --ignore-scripts --loglevel=error \
  "code-server@$CODE_SERVER" "puppeteer-core@$PUPPETEER" >/dev/null
say "npm install code-server@$CODE_SERVER puppeteer-core@$PUPPETEER: $(since "$t")"

t=$(now)
cs="$scratch/node_modules/code-server"
cd "$cs/lib/vscode"
# The one git dependency, @vscode/proxy-agent, is the same package as the
# registry's tarball (the shrinkwrap's integrity hash matches it).
git_dep='git+ssh://git@github.com/microsoft/vscode-proxy-agent.git#0803e0a7d1249bcb64ae9d256d0ee732b7246ea5'
grep -q "\"resolved\": \"$git_dep\"" npm-shrinkwrap.json ||
  { say "lib/vscode/npm-shrinkwrap.json no longer has the expected git dependency"; exit 1; }
sed -i "s|$git_dep|https://registry.npmjs.org/@vscode/proxy-agent/-/proxy-agent-0.27.0.tgz|" npm-shrinkwrap.json
npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
say "npm install lib/vscode: $(since "$t")"

t=$(now)
# Build the native modules against the installed Node's headers.
nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
[ -f "$nodedir/include/node/node.h" ] || nodedir=""
export npm_config_nodedir="${nodedir:-}"
export JOBS=max   # node-gyp: compile each module on every core
npm rebuild --loglevel=error node-pty @parcel/watcher @vscode/spdlog native-watchdog @vscode/deviceid >/dev/null
(cd "$scratch" && npm rebuild --loglevel=error argon2 >/dev/null)
# What code-server's postinstall would have linked.
ln -sfn node_modules node_modules.asar
say "npm rebuild native modules: $(since "$t")"

cd "$here"
say "code-server ready after $(since "$start")"
status=0
node "$here/test.mjs" --code-server "$cs" --node-modules "$scratch/node_modules" --vsix "$vsix" || status=$?
say "install + test: $(since "$start")"
exit "$status"
