#!/usr/bin/env bash
# tests/slurm/cluster.sh: a real one-node SLURM cluster on 127.0.0.1 for the SLURM tests.
#
#   bash tests/slurm/cluster.sh start    install (if missing) and start; waits until the node is idle
#   bash tests/slurm/cluster.sh status   print daemon/sinfo/squeue state; exit 0 iff node up and sacct works
#   bash tests/slurm/cluster.sh stop     cancel jobs, stop every daemon by its pid file
#
# Design
# - Debian 12 packages (SLURM 22.05, MUNGE, MariaDB), installed with apt-get when missing.
#   Must run as root (re-executes itself through `sudo -n` when that works).
# - No systemd: each daemon is started directly and stopped through its pid file. All state
#   (pid files, logs, spool, MariaDB data) lives under $BUSFLOW_SLURM_DIR
#   (default /var/lib/busflow-slurm). The configs go to /etc/slurm, where sbatch, sacct, squeue
#   and scontrol look by default, so tests and snakemake need no SLURM_CONF. MUNGE and MariaDB
#   keep their default sockets (/run/munge, /run/mysqld) because the client libraries use them.
# - Accounting through slurmdbd + MariaDB rather than only `--slurm-status-command squeue`:
#   snakemake-executor-plugin-slurm polls `sacct` whenever the command exists, and sacct without
#   accounting storage fails, so the plugin would wait forever; real clusters have accounting too,
#   so the tests exercise the same path (sacct states, account validation through sacctmgr).
#   The cluster "busflow" and the account "busflow" are registered; root, $SUDO_USER and the
#   users in $BUSFLOW_SLURM_USERS are added to it. Associations are not enforced.
# - Node: `hostname -s` at 127.0.0.1; CPUs/topology from `slurmd -C`, RealMemory minus a reserve.
#   cons_tres + CR_Core_Memory + DefMemPerCPU so that several small jobs run side by side.
#   proctrack/linuxproc + task/affinity because the cgroup plugins fail in containers/VMs like
#   this one and silently drain the node. One fake typed GPU (gres.conf, File=/dev/null) so
#   `--gpus=1` and `--gres=gpu:1` jobs are accepted and run; gres/gpu is an accounted TRES.
# - MinJobAge=600 so finished jobs stay visible to squeue/scontrol for a while.
# - JobRequeue=0, as on many real sites: only a job submitted with `sbatch --requeue` (what
#   profiles/slurm asks for) can be requeued, so the requeue test shows that setting matters.
# - Idempotent: `start` on a healthy cluster with unchanged configs only says so; a rewritten
#   config restarts the daemons that read it. start/stop are serialised by a lock file, and the
#   daemons are started with no inherited descriptors (a caller capturing our output never hangs).
# Environment: BUSFLOW_SLURM_DIR (state dir), BUSFLOW_SLURM_USERS (extra users, comma-separated),
# BUSFLOW_SLURM_TIMEOUT (seconds to wait for the node, default 180).
set -euo pipefail

STATE=${BUSFLOW_SLURM_DIR:-/var/lib/busflow-slurm}
CLUSTER=busflow
ACCOUNT=busflow
PARTITION=main
CONF_DIR=/etc/slurm
START_TIMEOUT=${BUSFLOW_SLURM_TIMEOUT:-180}
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

RUN=$STATE/run
LOG=$STATE/log
MYSQL_DIR=$STATE/mariadb          # owned by mysql: data dir, pid file, error log
MUNGE_DIR=$STATE/munge            # owned by munge: pid file, log, seed
MY_CNF=$STATE/etc/my.cnf
MYSQL_SOCKET=/run/mysqld/mysqld.sock
DB_NAME=slurm_acct_db
DB_USER=slurm

log() { printf '[cluster.sh] %s\n' "$*" >&2; }
die() { printf '[cluster.sh] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- helpers

ensure_root() {
    [[ $EUID -eq 0 ]] && return 0
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        local var vars=()
        for var in BUSFLOW_SLURM_DIR BUSFLOW_SLURM_USERS BUSFLOW_SLURM_TIMEOUT; do
            [[ -n ${!var:-} ]] && vars+=("$var=${!var}")
        done
        exec sudo -n env "${vars[@]}" bash "$0" "$@"   # sudo sets SUDO_USER: it is added to the account
    fi
    die "must run as root (or with passwordless sudo) to install and start SLURM"
}

node_name() { hostname -s; }

# running PID: the process exists and is not a zombie (an init that does not reap is possible)
running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]]
}

# pid_alive PIDFILE COMM: the pid file names a live process whose command is COMM
pid_alive() {
    local pidfile=$1 comm=$2 pid
    [[ -r $pidfile && -s $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile")
    [[ -n $pid ]] && running "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm"* ]]
}

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.5 s until it succeeds
wait_for() {
    local timeout=$1 what=$2 start
    shift 2
    start=$(now)
    until "$@" >/dev/null 2>&1; do
        if awk -v a="$start" -v b="$(now)" -v t="$timeout" 'BEGIN { exit !(b - a > t) }'; then
            log "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.5
    done
}

any_alive() {
    local pid
    for pid in "$@"; do running "$pid" && return 0; done
    return 1
}

any_exists() {
    local pid
    for pid in "$@"; do [[ -e /proc/$pid ]] && return 0; done
    return 1
}

# stop_daemons PIDFILE:COMM...: SIGTERM to each live one, wait up to 30 s for all of them, then
# SIGKILL what is left; remove the pid files; the pids are collected in STOPPED
stop_daemons() {
    local spec pidfile comm pid pids=() i
    for spec in "$@"; do
        pidfile=${spec%%:*}
        comm=${spec##*:}
        if pid_alive "$pidfile" "$comm"; then
            pid=$(tr -dc '0-9' <"$pidfile")
            log "stopping $comm (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$pidfile"
    done
    for ((i = 0; i < 150; i++)); do
        any_alive "${pids[@]}" || break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        if running "$pid"; then
            log "pid $pid did not stop; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    STOPPED+=("${pids[@]}")
}
STOPPED=()

# Serialise start/stop. The lock is fd 9; detach() keeps the daemons from inheriting it.
take_lock() {
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"
    flock -w 600 9 || die "another cluster.sh start/stop holds $STATE/.lock"
}

# ---------------------------------------------------------------- install

install_packages() {
    local missing=0 bin
    for bin in slurmctld slurmd slurmdbd sbatch sacct sacctmgr munged mungekey mariadbd mariadb-install-db; do
        command -v "$bin" >/dev/null 2>&1 || missing=1
    done
    ((missing)) || return 0
    command -v apt-get >/dev/null 2>&1 || die "SLURM is not installed and apt-get is not available"
    log "installing ${PACKAGES[*]} with apt-get"
    local t0 policy=/usr/sbin/policy-rc.d added_policy=0
    t0=$(now)
    # Keep the packages' init scripts from starting daemons with their own configs.
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                "${PACKAGES[@]}"
    } >"$STATE/apt.log" 2>&1 || rc=$?
    ((added_policy)) && rm -f "$policy"
    if ((rc != 0)); then
        tail -n 20 "$STATE/apt.log" >&2
        die "apt-get failed (exit $rc); full log in $STATE/apt.log"
    fi
    log "packages installed in $(since "$t0")s"
}

# ---------------------------------------------------------------- configuration

prepare_dirs() {
    mkdir -p "$STATE" "$STATE/etc" "$RUN" "$LOG" "$STATE/spool/slurmctld" "$STATE/spool/slurmd" \
        "$CONF_DIR"
    chmod 755 "$STATE"
    mkdir -p "$MUNGE_DIR" "$MYSQL_DIR" /run/munge /run/mysqld
    chown munge:munge "$MUNGE_DIR" /run/munge
    chmod 700 "$MUNGE_DIR"
    chmod 755 /run/munge
    chown mysql:mysql "$MYSQL_DIR" /run/mysqld
    chmod 750 "$MYSQL_DIR"
}

ensure_hosts_entry() {
    local node
    node=$(node_name)
    if ! getent hosts "$node" >/dev/null 2>&1; then
        log "adding '$node' to /etc/hosts"
        printf '127.0.0.1 %s\n' "$node" >>/etc/hosts
    fi
}

# write_if_changed FILE MODE: stdin -> FILE, rewritten only when the content differs; the files
# rewritten are collected in CHANGED
CHANGED=()
write_if_changed() {
    local file=$1 mode=$2 tmp
    tmp=$(mktemp "$file.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$file"
        CHANGED+=("$file")
    fi
}

db_password() {
    local f=$STATE/etc/db.pass
    if [[ ! -s $f ]]; then
        (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$f")
    fi
    cat "$f"
}

write_configs() {
    local node hw cpus_line mem reserve real_mem cpus def_mem
    node=$(node_name)
    hw=$(slurmd -C | head -n 1)                 # NodeName=x CPUs=.. Boards=.. ... RealMemory=N
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
    [[ -n $mem && -n $cpus ]] || die "cannot parse 'slurmd -C' output: $hw"
    cpus_line=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//' <<<"$hw")
    reserve=$((mem / 10 > 2048 ? 2048 : mem / 10))   # leave memory for the daemons and the OS
    real_mem=$((mem - reserve))
    def_mem=$((real_mem / cpus < 1024 ? real_mem / cpus : 1024))

    write_if_changed "$CONF_DIR/slurm.conf" 644 <<EOF
# Written by tests/slurm/cluster.sh (busflow test cluster); state under $STATE
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/spool/slurmctld
SlurmdSpoolDir=$STATE/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SwitchType=switch/none
ReturnToService=2
SlurmctldTimeout=60
SlurmdTimeout=120
InactiveLimit=0
KillWait=5
Waittime=0
MinJobAge=600
JobRequeue=0
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node $cpus_line RealMemory=$real_mem Gres=gpu:fake:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

    write_if_changed "$CONF_DIR/gres.conf" 644 <<EOF
# Written by tests/slurm/cluster.sh: one fake GPU so --gpus/--gres=gpu jobs run without a GPU
NodeName=$node Name=gpu Type=fake File=/dev/null
EOF

    write_if_changed "$CONF_DIR/slurmdbd.conf" 600 <<EOF
# Written by tests/slurm/cluster.sh (busflow test cluster)
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$(db_password)
StorageLoc=$DB_NAME
EOF

    write_if_changed "$MY_CNF" 644 <<EOF
# Written by tests/slurm/cluster.sh: MariaDB for slurmdbd, local socket only
[client]
socket=$MYSQL_SOCKET
[mysqld]
user=mysql
datadir=$MYSQL_DIR/data
socket=$MYSQL_SOCKET
pid-file=$MYSQL_DIR/mariadbd.pid
log-error=$MYSQL_DIR/mariadbd.log
skip-networking
innodb_buffer_pool_size=1024M
innodb_log_file_size=64M
innodb_lock_wait_timeout=900
max_allowed_packet=16M
EOF
}

# ---------------------------------------------------------------- daemons

# detach LOGFILE COMMAND...: run COMMAND with stdin from /dev/null, output to LOGFILE and every
# other inherited descriptor closed: the lock, and any pipe of the caller (a test runner capturing
# our output would otherwise wait for the daemons to exit). detach_bg: the same, in the background.
exec_detached() {
    local out=$1 fd
    shift
    for fd in "/proc/$BASHPID/fd"/*; do
        fd=${fd##*/}
        if ((fd > 2)); then eval "exec $fd>&-"; fi
    done
    exec "$@" </dev/null >>"$out" 2>&1
}
detach() { (exec_detached "$@"); }
detach_bg() { (exec_detached "$@") & }

start_munge() {
    pid_alive "$MUNGE_DIR/munged.pid" munged && return 0
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
    fi
    log "starting munged"
    detach "$LOG/munged.out" runuser -u munge -- munged --pid-file="$MUNGE_DIR/munged.pid" --log-file="$MUNGE_DIR/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed" ||
        die "munged failed to start; see $MUNGE_DIR/munged.log"
    wait_for 20 munged munge -n || die "munge does not answer; see $MUNGE_DIR/munged.log"
}

mysql_ping() { mariadb-admin --defaults-file="$MY_CNF" --user=root ping; }
mysql_root() { mariadb --defaults-file="$MY_CNF" --user=root; }   # SQL on stdin

start_mariadb() {
    if ! pid_alive "$MYSQL_DIR/mariadbd.pid" mariadbd; then
        if [[ ! -d $MYSQL_DIR/data/mysql ]]; then
            log "initialising MariaDB data dir $MYSQL_DIR/data"
            mariadb-install-db --defaults-file="$MY_CNF" --user=mysql --skip-test-db \
                --auth-root-authentication-method=socket >"$LOG/mariadb-install-db.log" 2>&1 ||
                die "mariadb-install-db failed; see $LOG/mariadb-install-db.log"
        fi
        log "starting mariadbd"
        detach_bg "$LOG/mariadbd.out" setsid mariadbd --defaults-file="$MY_CNF"
    fi
    wait_for 60 mariadbd mysql_ping || die "MariaDB does not answer; see $MYSQL_DIR/mariadbd.log"
    local pass
    pass=$(db_password)
    mysql_root <<EOF || die "cannot create the slurm database user"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost';
EOF
}

start_slurmdbd() {
    if ! pid_alive "$RUN/slurmdbd.pid" slurmdbd; then
        log "starting slurmdbd"
        detach "$LOG/slurmdbd.out" slurmdbd || die "slurmdbd failed; see $LOG/slurmdbd.log"
    fi
    wait_for 60 slurmdbd sacctmgr -n list cluster || die "slurmdbd does not answer; see $LOG/slurmdbd.log"
}

register_accounting() {
    if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=cluster) ]]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    if [[ -z $(sacctmgr -n -P list account "$ACCOUNT" format=account) ]]; then
        sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="busflow tests" \
            Organization=busflow >/dev/null
    fi
    local user users=(root)
    [[ -n ${SUDO_USER:-} ]] && users+=("$SUDO_USER")
    # shellcheck disable=SC2206
    [[ -n ${BUSFLOW_SLURM_USERS:-} ]] && users+=(${BUSFLOW_SLURM_USERS//,/ })
    for user in "${users[@]}"; do
        id "$user" >/dev/null 2>&1 || { log "no such user '$user'; not adding to SLURM"; continue; }
        if [[ -z $(sacctmgr -n -P list assoc user="$user" account="$ACCOUNT" cluster="$CLUSTER" format=user) ]]; then
            sacctmgr -i add user "$user" Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null
        fi
        sacctmgr -i modify user where name="$user" set DefaultAccount="$ACCOUNT" >/dev/null 2>&1 || true
    done
}

start_slurmctld() {
    if ! pid_alive "$RUN/slurmctld.pid" slurmctld; then
        log "starting slurmctld"
        detach "$LOG/slurmctld.out" slurmctld || die "slurmctld failed; see $LOG/slurmctld.log"
    fi
    wait_for 60 slurmctld scontrol ping || die "slurmctld does not answer; see $LOG/slurmctld.log"
}

start_slurmd() {
    pid_alive "$RUN/slurmd.pid" slurmd && return 0
    log "starting slurmd"
    detach "$LOG/slurmd.out" slurmd || die "slurmd failed; see $LOG/slurmd.log"
}

node_state() { sinfo -h -n "$(node_name)" -o %t 2>/dev/null | head -n 1 || true; }

wait_node_idle() {
    local node state t0 last_resume=0
    node=$(node_name)
    t0=$(now)
    while true; do
        state=$(node_state)
        case $state in
            idle | mix | alloc) return 0 ;;
            drain* | drng | down* | fail*)
                if ((SECONDS - last_resume >= 5)); then
                    log "node $node is '$state'; resuming it"
                    scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
                    last_resume=$SECONDS
                fi
                ;;
        esac
        if awk -v a="$t0" -v b="$(now)" -v t="$START_TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
            scontrol show node "$node" >&2 || true
            die "node $node not idle after ${START_TIMEOUT}s (state '$state'); see $LOG/"
        fi
        sleep 0.5
    done
}

# ---------------------------------------------------------------- checks

sacct_works() { sacct -X -n -P --format=JobID,State -S now-1hour >/dev/null 2>&1; }

healthy() {
    pid_alive "$MUNGE_DIR/munged.pid" munged &&
        pid_alive "$MYSQL_DIR/mariadbd.pid" mariadbd &&
        pid_alive "$RUN/slurmdbd.pid" slurmdbd &&
        pid_alive "$RUN/slurmctld.pid" slurmctld &&
        pid_alive "$RUN/slurmd.pid" slurmd &&
        [[ $(node_state) =~ ^(idle|mix|alloc)$ ]] &&
        sacct_works
}

# ---------------------------------------------------------------- subcommands

# restart_changed: daemons that run with a configuration rewritten just now are stopped here and
# started again by the start_* steps
restart_changed() {
    ((${#CHANGED[@]})) || return 0
    pid_alive "$RUN/slurmctld.pid" slurmctld || pid_alive "$RUN/slurmd.pid" slurmd ||
        pid_alive "$RUN/slurmdbd.pid" slurmdbd || pid_alive "$MYSQL_DIR/mariadbd.pid" mariadbd ||
        return 0   # nothing runs: nothing to restart
    log "configuration changed (${CHANGED[*]}); restarting the daemons that use it"
    stop_daemons "$RUN/slurmd.pid:slurmd" "$RUN/slurmctld.pid:slurmctld"
    stop_daemons "$RUN/slurmdbd.pid:slurmdbd"
    if [[ " ${CHANGED[*]} " == *" $MY_CNF "* ]]; then
        stop_daemons "$MYSQL_DIR/mariadbd.pid:mariadbd"
    fi
}

cmd_start() {
    local t0
    t0=$(now)
    take_lock
    install_packages
    prepare_dirs
    ensure_hosts_entry
    write_configs
    if ((${#CHANGED[@]} == 0)) && healthy; then
        log "SLURM cluster already running (node $(node_name) $(node_state), partition $PARTITION, account $ACCOUNT)"
        return 0
    fi
    restart_changed
    start_munge
    start_mariadb
    start_slurmdbd
    register_accounting
    start_slurmctld
    start_slurmd
    wait_node_idle
    sacct_works || die "sacct does not work; see $LOG/slurmdbd.log"
    log "SLURM cluster up in $(since "$t0")s: node $(node_name) $(node_state), partition $PARTITION, account $ACCOUNT, state in $STATE"
}

# job steps that outlived slurmd (scanned in /proc: procps may not be installed)
kill_leftover_stepds() {
    local comm pid
    for comm in /proc/[0-9]*/comm; do
        [[ $(cat "$comm" 2>/dev/null) == slurmstepd ]] || continue
        pid=${comm#/proc/}
        pid=${pid%/comm}
        log "killing leftover slurmstepd $pid"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

no_running_jobs() { [[ -z $(squeue -h -t R,CG,S -o %A 2>/dev/null) ]]; }

cmd_stop() {
    local t0 pid
    t0=$(now)
    take_lock
    if pid_alive "$RUN/slurmctld.pid" slurmctld; then
        local jobs
        jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
        if [[ -n ${jobs// /} ]]; then
            log "cancelling jobs: $jobs"
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            wait_for 30 "jobs to end" no_running_jobs || true
        fi
    fi
    # slurmd and slurmctld together, then slurmdbd (slurmctld flushes its records to it first),
    # then its database and munge
    stop_daemons "$RUN/slurmd.pid:slurmd" "$RUN/slurmctld.pid:slurmctld"
    kill_leftover_stepds
    stop_daemons "$RUN/slurmdbd.pid:slurmdbd"
    stop_daemons "$MYSQL_DIR/mariadbd.pid:mariadbd" "$MUNGE_DIR/munged.pid:munged"
    # give init a moment to reap them, so that no zombie is left for whoever looks next
    local i
    for ((i = 0; i < 25; i++)); do
        any_exists "${STOPPED[@]}" || break
        sleep 0.2
    done
    log "SLURM cluster stopped in $(since "$t0")s"
}

cmd_status() {
    local spec pidfile comm state ok=0
    for spec in "$MUNGE_DIR/munged.pid:munged" "$MYSQL_DIR/mariadbd.pid:mariadbd" \
        "$RUN/slurmdbd.pid:slurmdbd" "$RUN/slurmctld.pid:slurmctld" "$RUN/slurmd.pid:slurmd"; do
        pidfile=${spec%%:*}
        comm=${spec##*:}
        if pid_alive "$pidfile" "$comm"; then
            printf '%-10s running (pid %s)\n' "$comm" "$(tr -dc '0-9' <"$pidfile")"
        elif [[ -e $pidfile && ! -r $pidfile ]] || [[ ! -x ${pidfile%/*} ]]; then
            printf '%-10s unknown (cannot read %s)\n' "$comm" "$pidfile"
        else
            printf '%-10s not running\n' "$comm"
        fi
    done
    if ! command -v sinfo >/dev/null 2>&1 || [[ ! -f $CONF_DIR/slurm.conf ]]; then
        echo "SLURM is not installed or not configured"
        return 1
    fi
    # the client commands retry for a long while when a daemon is down: only ask live ones
    if pid_alive "$RUN/slurmctld.pid" slurmctld; then
        sinfo -o '%P %a %l %D %t %N %G' 2>&1 || true
        squeue 2>&1 || true
        state=$(node_state)
    fi
    if [[ ${state:-} =~ ^(idle|mix|alloc)$ ]]; then
        echo "node $(node_name): $state"
    else
        echo "node $(node_name): ${state:-unknown} (not up)"
        ok=1
    fi
    if pid_alive "$RUN/slurmdbd.pid" slurmdbd && sacct_works; then
        echo "sacct: ok"
    else
        echo "sacct: not working"
        ok=1
    fi
    return $ok
}

main() {
    local cmd=${1:-}
    case $cmd in
        start | stop | status) ;;
        *)
            echo "usage: $0 start|stop|status" >&2
            exit 2
            ;;
    esac
    [[ $cmd == status ]] || ensure_root "$@"   # status works for any user (daemons it cannot see show as not running)
    export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
    "cmd_$cmd"
}

main "$@"
