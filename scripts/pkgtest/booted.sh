# shellcheck shell=bash
# scripts/test-packages, the booted part: the .deb in containers running systemd as PID 1.
# Sourced; uses check/ok/not_ok/note, ct/ct_sh/ct_boot/ct_stop and $SCRATCH, $TARGET.
#
# In the container, a `firetail local-firehose` (the installed binary) stands in for
# Kinesis Data Firehose on 127.0.0.1:4566, behind socat terminating TLS on
# https://localhost:4443 with a certificate from a test CA that is added to the system
# store: the daemon reaches it the way it reaches AWS, through the roots the
# ca-certificates package provides. scripts/pkgtest/apache-sim writes the log like
# Apache (opened by root, written by www-data); scripts/pkgtest/delivered compares what
# was written with the objects the local Firehose wrote.

WEB_LOG=/var/log/apache2/access.log
VHOSTS_LOG=/var/log/apache2/other_vhosts_access.log
DEBUG_BIN=/opt/firetail-debug/firetail

# wait_for SECONDS COMMAND...: retries COMMAND every half second until it succeeds.
wait_for() {
    local end=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.5
    done
}

# prop PROPERTY: a property of firetail.service (`systemctl show --value`).
prop() { ct systemctl show --value -p "$1" "$UNIT"; }
is_active() { [ "$(prop ActiveState)" = active ] && [ "$(prop SubState)" = running ]; }

# A test CA and a certificate for localhost, made on the host for each run.
make_tls() {
    local d="$SCRATCH/pkg/tls"
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=firetail package test CA" -keyout "$d/ca.key" -out "$d/ca.crt" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
            -keyout "$d/server.key" -out "$d/server.csr" &&
        printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
            "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" > "$d/ext.cnf" &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile "$d/ext.cnf" -out "$d/server.crt" &&
        cat "$d/server.crt" "$d/server.key" > "$d/server.pem" &&
        chmod 644 "$d"/*
}

# The package as a user installs it: apt resolves the dependencies (offline here: the
# root's apt cache holds ca-certificates and what it needs).
install_deb() {
    ct env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "/mnt/pkg/$1"
}

installed_checks() {
    check "installed: binary, unit, agent.json, empty agent.d, man pages, completions" ct_sh '
        test -x /usr/bin/firetail && test -f /lib/systemd/system/firetail.service
        test -f /etc/firetail/agent.json && test -d /etc/firetail/agent.d
        test -z "$(ls -A /etc/firetail/agent.d)"
        test -f /usr/share/man/man1/firetail-status.1.gz
        test -f /usr/share/bash-completion/completions/firetail'
    check "installed: ca-certificates came with the package" ct dpkg-query -W -f='${Status}\n' ca-certificates
    check "user firetail: system uid, home /var/lib/firetail, nologin shell, in group adm" ct_sh '
        entry=$(getent passwd firetail); echo "$entry"
        [ "$(echo "$entry" | cut -d: -f6)" = /var/lib/firetail ]
        echo "$entry" | cut -d: -f7 | grep -q nologin
        [ "$(echo "$entry" | cut -d: -f3)" -lt 1000 ]
        id -nG firetail | tr " " "\n" | grep -qx adm'
    check "/var/lib/firetail is firetail:firetail 0750" ct_sh \
        '[ "$(stat -c "%U:%G %a" /var/lib/firetail)" = "firetail:firetail 750" ]'
    check "the service is enabled but not started (the shipped agent.json is a placeholder)" ct_sh '
        [ "$(systemctl is-enabled firetail)" = enabled ]
        ! systemctl is-active --quiet firetail'
    check "firetail check-config as firetail: the packaged default agent.json is valid" \
        ct runuser -u firetail -- firetail check-config --quiet
    installed_unit_verifies() {
        local err man=--man=yes
        ct sh -c 'command -v man' >/dev/null || man=--man=no # a minimal image has no man
        err=$(ct systemd-analyze verify "$man" /lib/systemd/system/firetail.service 2>&1 >/dev/null)
        [ -z "$err" ] || { echo "$err"; return 1; }
    }
    check "systemd-analyze verify of the installed unit" installed_unit_verifies
}

# The scenario's configuration: one flow over Apache's access log, to the local Firehose
# behind TLS; a status period of 3 s so STATUS= changes within the test.
write_config() {
    local flows=$1
    ct_sh "cat > /etc/firetail/agent.json <<JSON
{
  \"firetail.region\": \"eu-west-1\",
  \"firehose.endpoint\": \"https://localhost:4443\",
  \"cloudwatch.emitMetrics\": false,
  \"checkpointFile\": \"/var/lib/firetail/checkpoints.json\",
  \"log.statusReportingPeriodSeconds\": 3,
  \"flows\": [ $flows ]
}
JSON"
}

flow_json() {
    printf '{"filePattern": "%s*", "deliveryStream": "%s", "initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 1000}' "$1" "$2"
}

scenario_setup() {
    ct_sh '
        install -m 0644 /mnt/pkg/tls/ca.crt /usr/local/share/ca-certificates/firetail-test-ca.crt
        update-ca-certificates >/dev/null
        systemd-run --quiet --unit=local-firehose --property=Type=exec \
            /usr/bin/firetail local-firehose --listen 127.0.0.1:4566 --dir /srv/firehose --auto-create
        systemd-run --quiet --unit=tls-front --property=Type=exec /usr/bin/socat \
            OPENSSL-LISTEN:4443,bind=127.0.0.1,reuseaddr,fork,cert=/mnt/pkg/tls/server.pem,verify=0 \
            TCP:127.0.0.1:4566
        install -d -o root -g adm -m 0750 /var/log/apache2
        for f in '"$WEB_LOG $VHOSTS_LOG"'; do install -o root -g adm -m 0640 /dev/null "$f"; done
        printf "%s\n" AWS_ACCESS_KEY_ID=pkgtest AWS_SECRET_ACCESS_KEY=pkgtest \
            AWS_EC2_METADATA_DISABLED=true > /etc/default/firetail
        chmod 0600 /etc/default/firetail' &&
        write_config "$(flow_json "$WEB_LOG" web)" &&
        wait_for 20 ct bash -c 'echo > /dev/tcp/127.0.0.1/4566 && echo > /dev/tcp/127.0.0.1/4443'
}

# write_lines PHASE COUNT PAUSE [FILE]: apache-sim as a transient service; returns at once.
write_lines() {
    ct systemd-run --quiet --collect --unit=apache-sim --property=Type=exec \
        /mnt/pkgtest/apache-sim "$@"
}
writer_done() { wait_for "${1:-120}" ct_sh '! systemctl is-active --quiet apache-sim'; }

# delivered PHASE COUNT [TIMEOUT] [--logrotate-loss-ok]: see scripts/pkgtest/delivered.
delivered() { ct /mnt/pkgtest/delivered "$@"; }

# duplicates_of PHASE COUNT: how many lines of PHASE were delivered more than once.
duplicates_of() { delivered "$1" "$2" 5 | sed -n 's/.*duplicates \([0-9]*\).*/\1/p'; }

step_start() {
    local t0=$SECONDS
    check "systemctl start firetail returns once READY=1 arrives (Type=notify), unit active" \
        ct_sh 'timeout 60 systemctl start firetail && [ "$(systemctl show -p SubState --value firetail)" = running ]' ||
        return 1
    note "systemctl start took $((SECONDS - t0)) s"
    check "the daemon runs as firetail with supplementary group adm, no capabilities" ct_sh '
        pid=$(systemctl show -p MainPID --value firetail)
        grep -q "^Uid:.*$(id -u firetail)" /proc/$pid/status
        grep -q "^Groups:.*$(getent group adm | cut -d: -f3)" /proc/$pid/status
        grep -q "^CapEff:.*0000000000000000" /proc/$pid/status'
    return 0
}

step_first_delivery() {
    write_lines A 200 0.005 "$WEB_LOG"
    writer_done 60
    check_verbose "www-data's lines in a root:adm 0640 file arrive, over TLS to https://localhost (test CA in the system store)" \
        delivered A 200 60
    check "the journal has no certificate warning (no 'native root CA', no TLS error)" ct_sh '
        ! journalctl -u firetail -o cat | grep -iE "root CA|certificate|invalid peer|UnknownIssuer|tls"'
}

step_status_line() {
    local before after
    before=$(prop StatusText)
    write_lines S 100 0.005 "$WEB_LOG"
    writer_done 60
    delivered S 100 30 >/dev/null
    sleep 4 # more than the 3 s status period
    after=$(prop StatusText)
    status_line_ok() {
        echo "before: $before"
        echo "after:  $after"
        [[ "$before" =~ ^1\ flow\ \(1\ ready\),\ .*\ records/s,\ .*\ behind,\ last\ error:\ none$ ]] &&
            [[ "$after" =~ ^1\ flow\ \(1\ ready\),\ [0-9.]+\ records/s,\ .*\ behind,\ last\ error:\ none$ ]] &&
            [ "$before" != "$after" ]
    }
    check_verbose "systemctl status shows a one-line STATUS= (flows, records/s, bytes behind, last error), refreshed" \
        status_line_ok
    check "systemctl status firetail prints it as 'Status:'" ct_sh \
        'systemctl status firetail --no-pager | grep -E "Status: \"1 flow \(1 ready\), .* records/s"'
}

step_firetail_status() {
    firetail_status_ok() {
        local out
        out=$(ct setpriv --reuid=nobody --regid=nogroup --clear-groups firetail status) || { echo "$out"; return 1; }
        echo "$out"
        grep -q '^FIRETAIL OK - 1 flow (1 ready)' <<<"$out" && grep -qF "  $WEB_LOG " <<<"$out"
    }
    check_verbose "firetail status (as nobody): exit 0, FIRETAIL OK, the access log's offsets" firetail_status_ok
    check "firetail status --json: health OK, the file caught up (acked offset = size)" ct_sh '
        firetail status --json > /tmp/status.json
        grep -q "\"health\": \"OK\"" /tmp/status.json
        size=$(stat -c %s '"$WEB_LOG"')
        grep -q "\"acked_offset\": $size" /tmp/status.json'
}

step_reload() {
    local pid
    pid=$(prop MainPID)
    write_lines V 50 0.002 "$VHOSTS_LOG"
    writer_done 30
    write_config "$(flow_json "$WEB_LOG" web), $(flow_json "$VHOSTS_LOG" vhosts)"
    check "systemctl reload (SIGHUP) applies a changed agent.json: a second flow, same process" ct_sh '
        systemctl reload firetail
        for i in $(seq 40); do
            firetail status --json | grep -q "\"id\": \"fh:vhosts:" && break; sleep 0.5
        done
        firetail status --json | grep -q "\"id\": \"fh:vhosts:"
        [ "$(systemctl show -p MainPID --value firetail)" = '"$pid"' ]'
    check_verbose "the new flow ships its file to its own stream" delivered V 50 30
    check "the new flow's objects are in the vhosts stream" ct_sh \
        'grep -rl "/pkgtest/V/" /srv/firehose | grep -q "/vhosts-"'
}

# The Kinesis Agent's own example tails /tmp/app.log*: under the unit's PrivateTmp=yes the
# service would see an empty /tmp. check-config and the daemon at start say so, naming the
# key and the setting; the drop-in docs/operations.md shows ("The sandbox and your paths")
# opens it, and then the lines arrive. The configuration and unit are put back after.
step_sandbox_paths() {
    local tmp_log=/tmp/app.log
    ct_sh "install -o www-data -g adm -m 0640 /dev/null $tmp_log"
    write_config "$(flow_json "$WEB_LOG" web), $(flow_json "$tmp_log" tmpapp)"
    check "check-config names filePattern /tmp/app.log*, PrivateTmp=yes and the drop-in that opens it" ct_sh '
        firetail check-config --quiet 2>&1 | tee /tmp/check.out
        grep "filePattern /tmp/app.log\*" /tmp/check.out | grep "PrivateTmp=yes" | grep -q "\[Service\] PrivateTmp=no"'
    check "the daemon says the same in the journal at start (systemctl show from inside the sandbox)" ct_sh '
        since=$(date "+%Y-%m-%d %H:%M:%S")
        systemctl restart firetail
        sleep 2
        journalctl -u firetail --since "$since" -o cat | grep "filePattern /tmp/app.log\*" | grep -q "PrivateTmp=yes"'
    check "the documented drop-in (PrivateTmp=no) opens /tmp: no warning any more, /tmp/app.log ships" ct_sh '
        mkdir -p /etc/systemd/system/firetail.service.d
        printf "[Service]\nPrivateTmp=no\n" > /etc/systemd/system/firetail.service.d/tmp.conf
        systemctl daemon-reload && systemctl restart firetail
        ! firetail check-config --quiet 2>&1 | grep -q "PrivateTmp"'
    write_lines P 50 0.002 "$tmp_log"
    writer_done 30
    check_verbose "lines written to /tmp/app.log arrive once the drop-in is in place" delivered P 50 30
    ct_sh 'rm -f /etc/systemd/system/firetail.service.d/tmp.conf /tmp/app.log
        systemctl daemon-reload'
    write_config "$(flow_json "$WEB_LOG" web), $(flow_json "$VHOSTS_LOG" vhosts)"
    ct systemctl restart firetail
}

# Debian's logrotate job with an apache2-like stanza; $1 is "create" or "copytruncate".
logrotate_config() {
    local mode="create 640 root adm"
    [ "$1" = copytruncate ] && mode=copytruncate
    ct_sh "cat > /etc/logrotate.d/apache2-pkgtest <<CONF
/var/log/apache2/*.log {
	daily
	missingok
	rotate 14
	compress
	delaycompress
	notifempty
	$mode
	sharedscripts
	postrotate
		systemctl kill --kill-whom=main --signal=HUP apache-sim.service 2>/dev/null || true
	endscript
}
CONF
# Last rotated long ago: today's run of the daily job rotates.
umask 077
printf '%s\n' 'logrotate state -- version 2' '\"$WEB_LOG\" 2000-1-1-0:0:0' \
    '\"$VHOSTS_LOG\" 2000-1-1-0:0:0' > /var/lib/logrotate/status"
}

step_logrotate() {
    local mode=$1 phase=$2 tolerance=""
    [ "$mode" = copytruncate ] && tolerance=--logrotate-loss-ok
    logrotate_config "$mode"
    write_lines "$phase" 600 0.01 "$WEB_LOG"
    sleep 2
    local rotated_before
    rotated_before=$(ct_sh 'ls /var/log/apache2 | wc -l')
    check "Debian's daily logrotate job ($mode) runs while the log is written" ct_sh \
        'systemctl start logrotate.service && systemctl show -p Result --value logrotate.service | grep -qx success'
    if [ "$mode" = create ]; then
        check "after the rotation: access.log.1, and a new access.log root:adm 0640" ct_sh '
            test -f '"$WEB_LOG"'.1
            [ "$(stat -c "%U:%G %a" '"$WEB_LOG"')" = "root:adm 640" ]'
    else
        check "after the rotation: a compressed older log and a truncated-in-place access.log" ct_sh '
            ls /var/log/apache2/access.log.2.gz && test -f '"$WEB_LOG"'.1'
    fi
    note "files in /var/log/apache2 before/after: $rotated_before/$(ct_sh 'ls /var/log/apache2 | wc -l')"
    writer_done 120
    check_verbose "logrotate $mode while following: every line arrives" delivered "$phase" 600 60 $tolerance
}

step_kill9() {
    local pid restarts
    pid=$(prop MainPID)
    restarts=$(prop NRestarts)
    write_lines K 400 0.01 "$WEB_LOG"
    sleep 1.5
    ct systemctl kill --signal=KILL --kill-whom=main "$UNIT"
    restarted() { [ "$(prop NRestarts)" -gt "$restarts" ] && is_active && [ "$(prop MainPID)" != "$pid" ]; }
    local t0=$SECONDS
    check "kill -9 of the main process: systemd restarts it (Restart=on-failure)" wait_for 40 restarted
    note "back to active $((SECONDS - t0)) s after the kill (RestartSec=5s)"
    writer_done 60
    check_verbose "kill -9 while writing: nothing lost (re-sent lines are counted as duplicates)" \
        delivered K 400 60
}

step_watchdog() {
    ct_sh "mkdir -p /run/systemd/system/firetail.service.d
cat > /run/systemd/system/firetail.service.d/pkgtest-fault.conf <<CONF
# The debug build of the same source: it alone carries the test-only fault.
[Service]
ExecStart=
ExecStart=$DEBUG_BIN run
Environment=FIRETAIL_TEST_FAULT=wedge-on-sigusr2
CONF
systemctl daemon-reload && systemctl restart firetail"
    check "the debug build with the test-only fault runs under the same unit" \
        ct_sh "systemctl show -p ExecStart --value firetail | grep -q $DEBUG_BIN && systemctl is-active --quiet firetail"
    local pid restarts
    pid=$(prop MainPID)
    restarts=$(prop NRestarts)
    write_lines W 300 0.05 "$WEB_LOG"
    sleep 2
    local t0=$SECONDS
    ct systemctl kill --signal=USR2 --kill-whom=main "$UNIT"
    check "after SIGUSR2 the daemon stops answering (firetail status: UNKNOWN)" \
        ct_sh 'sleep 1; rc=0; firetail status || rc=$?; [ "$rc" -eq 3 ]'
    restarted() { [ "$(prop NRestarts)" -gt "$restarts" ] && is_active && [ "$(prop MainPID)" != "$pid" ]; }
    check "the watchdog (WatchdogSec=30) kills the wedged daemon and systemd restarts it" wait_for 90 restarted
    note "restarted $((SECONDS - t0)) s after the runtime wedged"
    check "the journal says why: a watchdog timeout" ct_sh \
        'journalctl -u firetail -o cat | grep -i "watchdog timeout"'
    writer_done 60
    check_verbose "lines written while the daemon was wedged arrive after the restart" delivered W 300 60
    ct_sh 'rm -r /run/systemd/system/firetail.service.d && systemctl daemon-reload && systemctl restart firetail'
    check "back on the packaged binary" ct_sh \
        'systemctl show -p ExecStart --value firetail | grep -q "path=/usr/bin/firetail" && systemctl is-active --quiet firetail'
}

# A newer version of the same package: the .deb repacked with version <v>+pkgtest2.
repack_newer_deb() {
    local d="$SCRATCH/repack"
    rm -rf "$d"
    mkdir -p "$d"
    dpkg-deb -R "$SCRATCH/pkg/firetail.deb" "$d/tree" &&
        sed -i 's/^Version: \(.*\)$/Version: \1+pkgtest2/' "$d/tree/DEBIAN/control" &&
        dpkg-deb --root-owner-group -b "$d/tree" "$SCRATCH/pkg/firetail-newer.deb" >/dev/null
}

step_upgrade() {
    if ! repack_newer_deb; then
        not_ok "a newer .deb for the upgrade (dpkg-deb repack)"
        return
    fi
    local invocation since
    invocation=$(prop InvocationID)
    since=$(ct date +%s)
    sleep 1
    write_lines U 300 0.01 "$WEB_LOG"
    sleep 1
    check "upgrade in place while running (apt-get install of a newer version)" install_deb firetail-newer.deb
    check "the package is at the new version" ct_sh "dpkg-query -W firetail | grep -q '+pkgtest2'"
    restarted_once() {
        local starts
        starts=$(ct journalctl -u firetail --since "@$since" -o cat | grep -c 'Agent: Starting up')
        echo "daemon starts since the upgrade began: $starts"
        [ "$starts" -eq 1 ] && [ "$(prop InvocationID)" != "$invocation" ] && is_active
    }
    check_verbose "the upgrade restarted the running daemon exactly once" restarted_once
    check "the upgrade kept the checkpoints" ct_sh \
        "grep -qE '\"path\": *\"$WEB_LOG\"' /var/lib/firetail/checkpoints.json"
    writer_done 60
    check_verbose "lines written across the upgrade arrive" delivered U 300 60
    local dup
    dup=$(duplicates_of A 200)
    check "the restart on upgrade re-sent nothing of before (phase A duplicates: ${dup:-?})" test "${dup:-1}" -eq 0
}

# The other side of the TLS check: without the test CA in the system store, nothing is
# delivered and the connection error shows in `firetail status`; with it back, everything
# is. (The journal says only "requests are failing": the sink logs the TLS cause at DEBUG.)
step_tls_trust() {
    ct_sh 'rm /usr/local/share/ca-certificates/firetail-test-ca.crt
        update-ca-certificates --fresh >/dev/null 2>&1; systemctl restart firetail'
    write_lines T 20 0.01 "$WEB_LOG"
    writer_done 30
    untrusted() {
        # The SDK's own retries take several seconds before a call fails for good.
        wait_for 40 ct_sh 'firetail status --json | grep -A1 "\"last_error\": {" | grep -q ConnectionError' &&
            { ct firetail status || true; } | head -3 && ! delivered T 20 1
    }
    check_verbose "without the test CA in the store: nothing delivered, firetail status shows the connection error" untrusted
    ct_sh 'install -m 0644 /mnt/pkg/tls/ca.crt /usr/local/share/ca-certificates/firetail-test-ca.crt
        update-ca-certificates >/dev/null 2>&1; systemctl restart firetail'
    check_verbose "with the test CA back (and a restart): every line arrives" delivered T 20 60
}

step_security() {
    check_verbose "systemd-analyze security firetail in the container: exposure <= $MAX_EXPOSURE" \
        exposure_at_most "$UNIT" ct
}

step_remove_purge() {
    check "dpkg -r stops the service and removes the package" ct dpkg -r firetail
    check "remove: the daemon is stopped, the binary gone, agent.json and /var/lib/firetail kept" ct_sh '
        ! systemctl is-active --quiet firetail
        test ! -e /usr/bin/firetail && test -f /etc/firetail/agent.json && test -d /var/lib/firetail'
    check "dpkg --purge purges the package" ct dpkg --purge firetail
    check "purge deletes /etc/firetail and /var/lib/firetail, the enable link and the mask" ct_sh '
        test ! -e /etc/firetail && test ! -e /var/lib/firetail
        test ! -e /etc/systemd/system/multi-user.target.wants/firetail.service
        test ! -L /etc/systemd/system/firetail.service'
    ct getent passwd firetail >/dev/null &&
        note "user and group firetail remain after purge (by design; userdel firetail to remove)"
}

bookworm_scenario() {
    local root
    if ! root=$(scripts/container-root bookworm); then
        not_ok "a bookworm root (scripts/container-root bookworm)"
        return
    fi
    if ! make_tls >"$SCRATCH/out" 2>&1; then
        not_ok "a test CA and a localhost certificate (openssl)"
        return
    fi
    # The watchdog step runs the debug build: the test-only fault exists only there.
    local debug_bin="$TARGET/debug/firetail"
    if ! (cd "$REPO" && cargo build -q -p firetail --bin firetail); then
        not_ok "cargo build (the debug binary for the watchdog step)"
        return
    fi
    check_verbose "bookworm container boots systemd (nspawn, private network, volatile overlay)" \
        ct_boot "$root" firetail-bookworm --bind-ro="$debug_bin:$DEBUG_BIN"
    [ -n "$CT_PID" ] || return
    local installed=0
    check "apt-get install ./firetail.deb on a minimal image (dependencies offline from the apt cache)" \
        install_deb firetail.deb && installed=1
    [ "$installed" = 1 ] && installed_checks
    if [ "$installed" = 1 ] &&
        check "scenario set-up: test CA in the store, local Firehose behind TLS, Apache-like /var/log/apache2" \
            scenario_setup &&
        step_start; then
        bookworm_steps
    else
        not_ok "the daemon is not running: the remaining bookworm steps are skipped"
    fi
    ct_sh 'journalctl -u firetail -o short-monotonic --no-pager' > "$SCRATCH/bookworm-journal.txt" 2>&1
    if [ "$failed" -gt 0 ]; then
        echo "# last lines of the firetail journal in the container:"
        tail -30 "$SCRATCH/bookworm-journal.txt" | sed 's/^/       | /'
    fi
    ct_stop
}

bookworm_steps() {
    step_first_delivery
    step_status_line
    step_firetail_status
    step_reload
    step_sandbox_paths
    step_logrotate create R1
    step_logrotate copytruncate R2
    step_kill9
    step_watchdog
    step_upgrade
    step_tls_trust
    step_security
    step_remove_purge
}

bullseye_scenario() {
    local root
    if ! root=$(scripts/container-root bullseye); then
        not_ok "a bullseye root (scripts/container-root bullseye)"
        return
    fi
    check_verbose "bullseye container boots systemd" ct_boot "$root" firetail-bullseye
    [ -n "$CT_PID" ] || return
    note "bullseye: $(ct_sh 'systemctl --version | head -1'), $(ct_sh 'ldd --version | head -1')"
    check "bullseye: apt-get install ./firetail.deb (offline dependencies)" install_deb firetail.deb
    check "bullseye: the shipped binary runs on its glibc" ct firetail --version
    ct_sh '
        systemd-run --quiet --unit=local-firehose --property=Type=exec \
            /usr/bin/firetail local-firehose --listen 127.0.0.1:4566 --dir /srv/firehose --auto-create
        install -d -o root -g adm -m 0750 /var/log/apache2
        install -o root -g adm -m 0640 /dev/null '"$WEB_LOG"'
        printf "%s\n" AWS_ACCESS_KEY_ID=pkgtest AWS_SECRET_ACCESS_KEY=pkgtest \
            AWS_EC2_METADATA_DISABLED=true > /etc/default/firetail
        cat > /etc/firetail/agent.json <<JSON
{ "firetail.region": "eu-west-1", "firehose.endpoint": "http://127.0.0.1:4566",
  "cloudwatch.emitMetrics": false, "log.statusReportingPeriodSeconds": 3,
  "flows": [ '"$(flow_json "$WEB_LOG" web)"' ] }
JSON'
    check "bullseye: systemctl start reaches active under systemd 247 (Type=notify)" ct_sh \
        'timeout 60 systemctl start firetail && systemctl is-active --quiet firetail'
    local unknown
    unknown=$(ct_sh 'journalctl -b -o cat | grep -iE "firetail.service.*(unknown|ignoring)" | sort -u' 2>/dev/null)
    [ -z "$unknown" ] || note "bullseye's systemd ignores: $(tr '\n' ';' <<<"$unknown")"
    write_lines B 200 0.005 "$WEB_LOG"
    writer_done 60
    check_verbose "bullseye: www-data's lines arrive" delivered B 200 60
    check "bullseye: systemctl status shows STATUS=" ct_sh \
        'sleep 4; systemctl status firetail --no-pager | grep -E "Status: \"1 flow \(1 ready\)"'
    note "bullseye: systemd-analyze security: $(exposure_at_most "$UNIT" ct | head -1)"
    check "bullseye: systemctl stop is clean" ct_sh \
        'systemctl stop firetail && [ "$(systemctl show -p Result --value firetail)" = success ]'
    ct_stop
}
