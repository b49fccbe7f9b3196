#!/usr/bin/env bash
# Run make targets as stages and print a table of their times at the end, passed or failed, so that a
# slower stage shows in every log.
#
# Usage: stages.sh STAGE...
#   A STAGE is a make target, or targets joined by '+' that run side by side (each to its own log under
#   .cache/logs, printed whole when it ends). Stages run in order; the first that fails stops the run.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
logs="$root/.cache/logs"
mkdir -p "$logs"
rows=()
status=0
started=$(date +%s)

run_group() {
  local group=$1 target pids=() names=() begin=() i rc failed=0
  IFS='+' read -r -a targets <<<"$group"
  if [ "${#targets[@]}" -eq 1 ]; then
    local t0=$SECONDS
    make -C "$root" --no-print-directory "${targets[0]}"
    rc=$?
    rows+=("$(printf '%-28s %6d s  %s' "${targets[0]}" $((SECONDS - t0)) "$([ $rc -eq 0 ] && echo passed || echo FAILED)")")
    return $rc
  fi
  for target in "${targets[@]}"; do
    ( t0=$SECONDS
      make -C "$root" --no-print-directory "$target" >"$logs/$target.log" 2>&1
      rc=$?
      echo "$rc $((SECONDS - t0))" >"$logs/$target.status"
      exit $rc ) &
    pids+=($!)
    names+=("$target")
  done
  echo "=== side by side: ${targets[*]} (logs in .cache/logs)"
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    read -r rc seconds <"$logs/${names[$i]}.status"
    echo "=== ${names[$i]}: $([ "$rc" -eq 0 ] && echo passed || echo FAILED) in ${seconds} s"
    cat "$logs/${names[$i]}.log"
    rows+=("$(printf '%-28s %6d s  %s' "${names[$i]}" "$seconds" "$([ "$rc" -eq 0 ] && echo passed || echo FAILED)")")
    [ "$rc" -eq 0 ] || failed=1
  done
  return $failed
}

for group in "$@"; do
  t0=$SECONDS
  run_group "$group"
  rc=$?
  [[ "$group" == *+* ]] && rows+=("$(printf '  (side by side: %d s)' $((SECONDS - t0)))")
  if [ $rc -ne 0 ]; then
    status=1
    break
  fi
done

printf '\nstage times\n'
printf '%s\n' "${rows[@]}"
printf '%-28s %6d s  %s\n' 'total' $(( $(date +%s) - started )) "$([ $status -eq 0 ] && echo passed || echo FAILED)"
exit $status
