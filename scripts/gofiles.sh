#!/usr/bin/env bash
# Lists the project's Go files, one a line, relative to the repository root:
# the files git tracks when run in a checkout, otherwise every .go file
# outside .git and testdata directories (a source tarball or a container
# build context has no .git). Used by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 </dev/null; then
	git ls-files '*.go' </dev/null
else
	find . \( -name .git -o -name testdata -o -name node_modules \) -prune -o -name '*.go' -type f -print |
		sed 's|^\./||' | LC_ALL=C sort
fi
