# Shared by scripts/run and scripts/test: make .venv and install the project into it.
# Usage: source scripts/_venv.sh EXTRAS   (EXTRAS like "dev" or "" )
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "claim ledger needs Python >= 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
if [[ ! -x "$ROOT/.venv/bin/python" ]]; then
  echo "› creating .venv"
  "$PY" -m venv "$ROOT/.venv"
fi
VPY="$ROOT/.venv/bin/python"
extras="${1:-}"
spec="$ROOT"
[[ -n "$extras" ]] && spec="$ROOT[$extras]"
stamp="$ROOT/.venv/.installed-${extras:-base}"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
installed=0
for have in "$ROOT"/.venv/.installed-*; do
  # an install with more extras (e.g. dev) covers one with none
  [[ -f "$have" && "$(cat "$have")" == "$want" ]] || continue
  [[ "$have" == "$stamp" || -z "$extras" ]] && installed=1
done
if ((installed == 0)); then
  echo "› installing claim ledger${extras:+ with [$extras]} into .venv"
  log="$ROOT/.venv/install.log"
  if ! { "$VPY" -m pip install --disable-pip-version-check --upgrade pip \
         && "$VPY" -m pip install --disable-pip-version-check -e "$spec"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "installing failed; the whole log is in $log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
