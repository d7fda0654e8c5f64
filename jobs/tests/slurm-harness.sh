#!/usr/bin/env bash
# slurm-harness.sh start|stop|status|env
#
# A private, single-node Slurm (slurmctld + slurmd + munged, Debian 12 packages, no systemd) for
# testing the batch scripts in jobs/. Everything lives in one directory of its own; the harness
# only ever signals daemons whose pid files are in that directory, and it refuses to start if a
# Slurm it did not start could answer instead (busy port, SLURM_CONF pointing elsewhere).
#
# Environment (all optional):
#   SLURM_HARNESS_DIR   private directory, wiped on start   default /tmp/bert-pretrain-slurm.$UID
#   SLURM_HARNESS_PORT  slurmctld port; slurmd uses PORT+1   default 16817
#   SLURM_HARNESS_NODES nodes: 1 = this host; N > 1 = n1…nN, N slurmd on this host (jobs spanning
#                       them need OMPI_MCA_btl=self,tcp: shared memory between them fails)   default 1
#   SLURM_HARNESS_CPUS  CPUs each node advertises (config_overrides), so scripts asking for more
#                       tasks than the machine has cores still run   default 4
#
#   start    write slurm.conf and a munge key, start munged, slurmctld, slurmd; wait for an idle node
#   stop     cancel every job, SIGTERM the three daemons by pid file, wait for them to exit
#   status   sinfo / squeue of the private cluster
#   env      print `export SLURM_CONF=…` for use with eval
#
# Facts this follows (measured on Debian 12, Slurm 22.05.8): see the project's notes on Slurm:
# munged's socket dir must be 0755, state is wiped before each start (old state resurrects jobs),
# MpiDefault=pmix (Open MPI 4.1.4 works with srun --mpi=pmix only).
set -euo pipefail

dir=${SLURM_HARNESS_DIR:-/tmp/bert-pretrain-slurm.$(id -u)}
port=${SLURM_HARNESS_PORT:-16817}
cpus=${SLURM_HARNESS_CPUS:-4}
nnodes=${SLURM_HARNESS_NODES:-1}
host=$(hostname -s)
# One node: it is this host, by name. Several: n1, n2, … — each its own slurmd on its own port.
if [ "$nnodes" -eq 1 ]; then nodes=("$host"); else nodes=(); for ((k = 1; k <= nnodes; k++)); do nodes+=("n$k"); done; fi
conf=$dir/slurm.conf
cluster=bertpretraintest

die() { echo "slurm-harness: error: $*" >&2; exit 1; }
say() { echo "slurm-harness: $*" >&2; }

port_busy() {   # true if something listens on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid from a pid file, only if that process is alive and is the daemon we expect
live_pid() {   # file expected-command-name
  local f=$1 name=$2 pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc 0-9 < "$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm")" = "$name" ] || return 1
  echo "$pid"
}

daemons() {   # pidfile:name pairs of everything we start
  local f   # every slurmd pid file there, whatever SLURM_HARNESS_NODES was at start
  for f in "$dir"/slurmd-*.pid; do [ -e "$f" ] && echo "$f:slurmd"; done
  echo "$dir/slurmctld.pid:slurmctld" "$dir/munge/munged.pid:munged"
}

any_running() {
  local d
  for d in $(daemons); do live_pid "${d%%:*}" "${d##*:}" >/dev/null && return 0; done
  return 1
}

write_conf() {
  cat > "$conf" <<EOF
# Written by jobs/tests/slurm-harness.sh; wiped and rewritten on every start.
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
TmpFS=$dir/tmp/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
EnforcePartLimits=ALL
# Advertise more CPUs than the machine has, so the unmodified job scripts' task counts fit.
SlurmdParameters=config_overrides
EOF
  local k
  for k in "${!nodes[@]}"; do
    echo "NodeName=${nodes[$k]} NodeHostname=$host NodeAddr=127.0.0.1 Port=$((port + 1 + k)) CPUs=$cpus State=UNKNOWN" >> "$conf"
  done
  echo "PartitionName=debug Nodes=$(IFS=,; echo "${nodes[*]}") Default=YES MaxTime=INFINITE State=UP" >> "$conf"
}

start() {
  [ "$(id -u)" -eq 0 ] || die "needs root (slurmd runs jobs as their submitter; SlurmUser=root here)"
  local b
  for b in munged mungekey slurmctld slurmd sinfo sbatch scontrol; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b not found: apt-get install slurmctld slurmd slurm-client munge"
  done
  if [ -n "${SLURM_CONF:-}" ] && [ "$SLURM_CONF" != "$conf" ]; then
    die "SLURM_CONF=$SLURM_CONF points at another Slurm; refusing to start a second one (unset it to test)"
  fi
  if any_running; then die "a harness Slurm is already running from $dir (run: $0 stop)"; fi
  port_busy "$port" && die "port $port is busy (another slurmctld?); set SLURM_HARNESS_PORT"
  local k
  for ((k = 1; k <= ${#nodes[@]}; k++)); do
    port_busy $((port + k)) && die "port $((port + k)) is busy (another slurmd?); set SLURM_HARNESS_PORT"
  done

  # A fresh state every time: an old state directory would bring back old jobs and DRAIN reasons.
  case "$dir" in /tmp/?*) ;; *) die "SLURM_HARNESS_DIR must be under /tmp (it is wiped): $dir" ;; esac
  rm -rf "$dir"
  mkdir -p "$dir"/{state,log,munge}
  for n in "${nodes[@]}"; do mkdir -p "$dir/spool/$n" "$dir/tmp/$n"; done   # per node; PMIx needs its TmpFS
  chmod 755 "$dir" "$dir/munge"    # munged refuses a socket path that is not 0755 all the way
  write_conf

  PATH=$PATH:/usr/sbin
  mungekey --create --keyfile="$dir/munge/munge.key" --bits=1024 2>/dev/null
  chmod 600 "$dir/munge/munge.key"
  munged --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
         --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
         --seed-file="$dir/munge/munged.seed" \
    || die "munged failed to start; see $dir/munge/munged.log"
  export SLURM_CONF=$conf
  slurmctld -f "$conf" || die "slurmctld failed to start; see $dir/log/slurmctld.log"
  for n in "${nodes[@]}"; do
    slurmd -f "$conf" -N "$n" || { stop_daemons; die "slurmd -N $n failed to start; see $dir/log/slurmd-$n.log"; }
  done

  # Wait (up to 30 s) for the node to be idle; then make sure it is our cluster that answers.
  local state="" n
  for _ in $(seq 300); do
    state=$(sinfo -h -o %T 2>/dev/null | sort -u | tr '\n' ' ') || true
    [ "$state" = "idle " ] && break
    sleep 0.1
  done
  [ "$state" = "idle " ] || { stop_daemons; die "nodes not idle after 30 s (state '$state'); logs in $dir/log"; }
  scontrol show config 2>/dev/null | grep "^ClusterName *= *$cluster$" >/dev/null \
    || { stop_daemons; die "the slurmctld answering on port $port is not ours"; }
  say "started: cluster $cluster, node(s) ${nodes[*]} with $cpus CPUs each, SLURM_CONF=$conf"
}

stop_daemons() {
  local d f name pid pids=()
  if live_pid "$dir/slurmctld.pid" slurmctld >/dev/null; then
    SLURM_CONF=$conf scancel --quiet --user=root 2>/dev/null || true
        for _ in $(seq 100); do    # let slurmd end the jobs' steps before it goes (up to 10 s)
      [ -z "$(SLURM_CONF=$conf squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  for d in $(daemons); do
    f=${d%%:*}; name=${d##*:}
    if pid=$(live_pid "$f" "$name"); then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid:$name"); fi
  done
  local p
  for _ in $(seq 150); do         # up to 15 s; slurmctld usually takes about 4 s
    local alive=0
    for p in "${pids[@]}"; do
      [ -r "/proc/${p%%:*}/comm" ] && [ "$(cat "/proc/${p%%:*}/comm" 2>/dev/null)" = "${p##*:}" ] && alive=1
    done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if [ -r "/proc/${p%%:*}/comm" ] && [ "$(cat "/proc/${p%%:*}/comm" 2>/dev/null)" = "${p##*:}" ]; then
      say "${p##*:} (pid ${p%%:*}) ignored SIGTERM; sending SIGKILL"; kill -KILL "${p%%:*}" 2>/dev/null || true
    fi
  done
  if [ ${#pids[@]} -gt 0 ]; then say "stopped ${#pids[@]} daemon(s) from $dir"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop_daemons ;;
  status) export SLURM_CONF=$conf; any_running || die "not running (no live daemon pid file in $dir)"; sinfo; squeue ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
