#!/usr/bin/env bash
# Copies examples/cmd/quickstart/main.go into README.md between the quickstart markers.
# examples/readme_test.go fails when the two differ.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import re
src = open("examples/cmd/quickstart/main.go").read()
readme = open("README.md").read()
block = "<!-- quickstart:begin -->\n```go\n" + src + "```\n<!-- quickstart:end -->"
readme = re.sub(r"<!-- quickstart:begin -->.*?<!-- quickstart:end -->", lambda m: block, readme, flags=re.S)
open("README.md", "w").write(readme)
PY
