#!/usr/bin/env bash
# Render docs screenshots from a results file written by `saliency-cli explain`:
#   docs/report.png   the HTML report, screenshotted with headless Chromium
#   docs/preview.svg  the terminal preview of one review (rich), and docs/preview.png
#
# Usage: scripts/make_screenshots.sh RESULTS.jsonl [OUT_DIR]       (OUT_DIR defaults to docs)
# Environment: PYTHON (default .venv/bin/python, else python3), CHROMIUM (default: found on PATH),
#              PREVIEW_ID (review id for the terminal preview; default: the first review),
#              LEVEL (word or token; default word).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi

src=$(realpath "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
out_dir=$(realpath -m "${2:-$repo/docs}")
level=${LEVEL:-word}
[[ -f "$src" ]] || { echo "no such file: $1" >&2; exit 2; }

cd "$repo"
if [[ -n "${PYTHON:-}" ]]; then py=$PYTHON
elif [[ -x .venv/bin/python ]]; then py=.venv/bin/python
else py=python3
fi

chromium=${CHROMIUM:-}
if [[ -z "$chromium" ]]; then
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then chromium=$(command -v "$name"); break; fi
    done
fi
[[ -n "$chromium" ]] || { echo "chromium not found (apt-get install chromium, or set CHROMIUM)" >&2; exit 1; }

mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

shoot() {  # shoot URL PNG WIDTH,HEIGHT
    "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$work/profile" --hide-scrollbars --force-device-scale-factor=1 \
        --screenshot="$2" --window-size="$3" "$1" >/dev/null 2>&1
    [[ -s "$2" ]] || { echo "chromium wrote no screenshot for $1" >&2; exit 1; }
}

# 1. HTML report -> PNG
"$py" - "$src" "$work/report.html" "$level" <<'EOF'
import sys
from saliency_cli.report.html import render_report_from_results
n = render_report_from_results(sys.argv[1], sys.argv[2], level=sys.argv[3])
print(f"report: {n} reviews")
EOF
shoot "file://$work/report.html" "$out_dir/report.png" 1200,1400
echo "wrote $out_dir/report.png"

# 2. Terminal preview -> SVG (rich) -> PNG (chromium, sized to the SVG)
size=$("$py" - "$src" "$out_dir/preview.svg" "$level" "${PREVIEW_ID:-}" <<'EOF'
import io, json, re, sys
from rich.console import Console
from saliency_cli.report.preview import render_preview
from saliency_cli.records import Explanation

src, svg, level, wanted = sys.argv[1:5]
group = []
with open(src, encoding="utf-8") as fh:
    for line in fh:
        record = json.loads(line) if line.strip() else {}
        if "method" not in record:
            continue
        exp = Explanation.from_dict(record)
        if group and exp.id != group[0].id:
            break
        if not wanted or exp.id == wanted:
            group.append(exp)
if not group:
    sys.exit(f"no explanation{' with id ' + wanted if wanted else ''} in {src}")
console = Console(record=True, width=100, force_terminal=True, color_system="truecolor", file=io.StringIO())
render_preview(console, group, top_k=5, level=level)
console.save_svg(svg, title="saliency-cli explain --preview")
width, height = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', open(svg, encoding="utf-8").read()).groups()
print(f"{int(float(width))},{int(float(height)) + 1}")
EOF
)
echo "wrote $out_dir/preview.svg"
shoot "file://$out_dir/preview.svg" "$out_dir/preview.png" "$size"
echo "wrote $out_dir/preview.png"
