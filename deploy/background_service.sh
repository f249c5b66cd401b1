# Sourced (not run) by the scripts that keep a local service running in the background:
# deploy/kafka/kafka.sh, deploy/kafka/secure.sh and deploy/registry/registry.sh. Each starts its
# service as the leader of its own process group and keeps its pid in "$pidfile"; each defines
# log(). These are the parts they share.

# Whether the service in "$pidfile" is alive.
running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# Whether something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_service NAME: SIGTERM to the service's process group (the JVM and anything it started),
# SIGKILL if it is still there after 30 s; the pid file goes either way.
stop_service() {
  local name=$1
  if running; then
    local pid; pid=$(cat "$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop in 30 s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  else
    log "not running"
  fi
  rm -f "$pidfile"
}
