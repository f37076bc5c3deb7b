# Sourced by tools/setup_env.sh. `holding_build_lock CACHE KEY COMMAND...` runs COMMAND while holding
# CACHE/locks/KEY.lock: a second setup that needs the same build (another clone, CI beside a
# developer's run) waits for the first, then runs COMMAND itself, which finds the finished wheel.
holding_build_lock() {
  local cache=$1 key=$2
  shift 2
  mkdir -p "$cache/locks"
  exec 9>"$cache/locks/$key.lock"
  if ! flock -n 9; then
    printf '[setup] another setup is building %s: waiting for it to finish\n' "$key"
    flock 9
  fi
  "$@"
  flock -u 9
  exec 9>&-
}
