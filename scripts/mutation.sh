#!/usr/bin/env bash
# Mutation testing of the pure modules with mutmut 3 (outside CI: it takes minutes per module).
# Each module runs in its own copy of the tracked files, against the fast tests that cover it,
# and prints "module: killed/total (percent)" plus the surviving mutants (mutmut show NAME shows one).
#
# Usage: scripts/mutation.sh [MODULE ...]      (no MODULE: all of them, one after another)
# Modules: faithfulness statistics moments words delimited resume run_check
#          integrated_gradients smooth_grad gradient_family lime occlusion random_control perturbation_family
# Environment: MUTMUT (default: mutmut on PATH), WORK (default ${TMPDIR:-/tmp}/saliency-mutation),
#              NICE (default 10). Install mutmut in a virtualenv of its own that sees the project's packages:
#              python -m venv --system-site-packages VENV && VENV/bin/pip install mutmut; MUTMUT=VENV/bin/mutmut
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
mutmut=${MUTMUT:-mutmut}
work=${WORK:-${TMPDIR:-/tmp}/saliency-mutation}
nice_level=${NICE:-10}

# module -> "file to mutate|test files that cover it"
declare -A table=(
    [faithfulness]="saliency_cli/evaluation/faithfulness.py|tests/evaluation/test_faithfulness.py"
    [statistics]="saliency_cli/evaluation/statistics.py|tests/evaluation/test_statistics.py"
    [moments]="saliency_cli/evaluation/moments.py|tests/evaluation/test_moments.py tests/evaluation/test_statistics.py"
    [words]="saliency_cli/engine/scores.py|tests/engine/test_scores.py tests/engine/test_assemble.py"
    [delimited]="saliency_cli/inputs/delimited.py|tests/inputs/test_readers.py tests/inputs/test_ranges.py"
    [resume]="saliency_cli/outputs/resume.py|tests/outputs/test_resume.py"
    [run_check]="saliency_cli/outputs/run_check.py|tests/outputs/test_run_check.py"
    [integrated_gradients]="saliency_cli/methods/integrated_gradients.py|tests/methods/test_integrated_gradients.py"
    [smooth_grad]="saliency_cli/methods/smooth_grad.py|tests/engine/test_core.py"
    [gradient_family]="saliency_cli/methods/gradient_family.py|tests/engine/test_core.py"
    [lime]="saliency_cli/methods/lime.py|tests/methods/test_lime.py"
    [occlusion]="saliency_cli/methods/occlusion.py|tests/methods/test_occlusion.py"
    [random_control]="saliency_cli/methods/random_control.py|tests/methods/test_random_control.py"
    [perturbation_family]="saliency_cli/methods/perturbation_family.py|tests/methods/test_occlusion.py tests/methods/test_lime.py"
)
order=(faithfulness statistics moments words delimited resume run_check integrated_gradients smooth_grad
       gradient_family lime occlusion random_control perturbation_family)

modules=("$@")
[[ ${#modules[@]} -eq 0 ]] && modules=("${order[@]}")
for module in "${modules[@]}"; do
    if [[ -z ${table[$module]+x} ]]; then
        echo "unknown module: $module (one of: ${order[*]})" >&2
        exit 2
    fi
done

for module in "${modules[@]}"; do
    file=${table[$module]%%|*}
    tests=${table[$module]#*|}
    dir=$work/$module
    rm -rf "$dir" && mkdir -p "$dir"
    # A clean copy of the tracked files, so mutmut's mutants/ and cache never touch the checkout.
    (cd "$repo" && git ls-files -z | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$dir"
    {
        echo "[mutmut]"
        echo "source_paths=saliency_cli/"
        echo "only_mutate=$file"
        echo "pytest_add_cli_args=-p no:cacheprovider"
        echo "pytest_add_cli_args_test_selection="
        for t in $tests; do echo "    $t"; done
        echo "also_copy="
        for p in benchmarks sample_data README.md docs; do echo "    $p"; done
        echo "use_git_change_detection=false"
    } >"$dir/setup.cfg"
    # torch must not start its thread pool before mutmut forks the workers.
    (cd "$dir" && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH= nice -n "$nice_level" \
        "$mutmut" run >"$dir/run.log" 2>&1) || { echo "$module: mutmut run failed, see $dir/run.log" >&2; continue; }
    (cd "$dir" && "$mutmut" results --all true >"$dir/results.txt" 2>&1) || true
    total=$(grep -c ': ' "$dir/results.txt" || true)
    killed=$(grep -c ': killed$' "$dir/results.txt" || true)
    pct=$(awk -v k="$killed" -v t="$total" 'BEGIN { printf "%.1f", t ? 100 * k / t : 0 }')
    echo "$module: $killed/$total killed ($pct %)"
    grep -v ': killed$' "$dir/results.txt" | sed 's/^/    /' || true
done
