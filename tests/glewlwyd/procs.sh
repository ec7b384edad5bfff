# Sourced by start.sh and stop.sh: process checks for the server they manage.

# a pid is alive if /proc has it and it is not a zombie (PID 1 of a container
# may be slow to reap the orphans)
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# is pid $1 a live glewlwyd whose command line names config file $2?
is_server() {
  local cmd
  alive "$1" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  case "$cmd" in *glewlwyd*"$2"*) return 0 ;; *) return 1 ;; esac
}
