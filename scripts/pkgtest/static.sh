# shellcheck shell=bash
# scripts/test-packages, static part: the unit and the packages as files. Sourced; uses
# check/contains/ok/not_ok/note and $SCRATCH, $DEB, $RPM from the caller.

static_unit_checks() {
    check "systemd-analyze verify: no complaints about the unit" unit_verifies
    check "systemd-analyze security --offline=yes: exposure <= $MAX_EXPOSURE" \
        exposure_at_most systemd/firetail.service
    check "maintainer scripts parse with sh -n" scripts_parse
}

unit_verifies() {
    # Before installation /usr/bin/firetail may not exist, and verify insists on an
    # executable ExecStart: check a copy pointing at a placeholder. Stderr must be empty.
    local dir="$SCRATCH/unit"
    mkdir -p "$dir"
    printf '#!/bin/sh\n' > "$dir/firetail"
    chmod 755 "$dir/firetail"
    sed "s#/usr/bin/firetail#$dir/firetail#" systemd/firetail.service > "$dir/$UNIT"
    local err
    err=$(systemd-analyze verify --man=no "$dir/$UNIT" 2>&1 >/dev/null)
    [ -z "$err" ] || { echo "$err"; return 1; }
}

# exposure_at_most UNIT [systemd-analyze prefix...]: the overall exposure of UNIT.
exposure_at_most() {
    local unit=$1 report score
    shift
    if [ $# -gt 0 ]; then
        report=$("$@" systemd-analyze security "$unit" 2>&1)
    else
        report=$(systemd-analyze security --offline=yes "$unit" 2>&1)
    fi
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")
    echo "exposure: ${score:-unknown} (limit $MAX_EXPOSURE)"
    [ -n "$score" ] || { echo "$report" | tail -5; return 1; }
    awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s + 0 <= m + 0) }'
}

scripts_parse() {
    local f
    for f in packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm packaging/rpm/*.sh \
        scripts/pkgtest/apache-sim scripts/pkgtest/delivered; do
        sh -n "$f" || { echo "syntax error in $f"; return 1; }
    done
}

# The highest GLIBC_x.y symbol version FILE needs (`objdump -T`), e.g. 2.17.
glibc_needed() {
    objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1
}

glibc_at_most() {
    local needed
    needed=$(glibc_needed "$1")
    echo "highest GLIBC symbol version: ${needed:-none} (limit $MAX_GLIBC)"
    [ -n "$needed" ] || return 1
    [ "$(printf '%s\n%s\n' "$needed" "$MAX_GLIBC" | sort -V | tail -1)" = "$MAX_GLIBC" ]
}

# The test-only fault (src/fault.rs) exists in debug builds only; its trigger must not
# be in what ships.
no_test_fault() {
    if grep -qa 'wedge-on-sigusr2' "$1"; then
        echo "the shipped binary contains the test-only fault"
        return 1
    fi
}

static_package_checks() {
    dpkg-deb -c "$DEB" > "$SCRATCH/deb-contents"
    dpkg-deb -I "$DEB" > "$SCRATCH/deb-info"
    dpkg-deb -I "$DEB" conffiles > "$SCRATCH/deb-conffiles" 2>&1
    check "deb contents: binary, unit, config, docs, man pages, completions" \
        contains "$SCRATCH/deb-contents" \
        ./usr/bin/firetail \
        ./lib/systemd/system/firetail.service \
        ./etc/firetail/agent.json \
        ./usr/share/doc/firetail/README.md \
        ./usr/share/doc/firetail/operations.md \
        ./usr/share/man/man1/firetail.1.gz \
        ./usr/share/man/man1/firetail-status.1.gz \
        ./usr/share/bash-completion/completions/firetail \
        ./usr/share/zsh/vendor-completions/_firetail \
        ./usr/share/fish/vendor_completions.d/firetail.fish
    check "deb: /etc/firetail/agent.json is a conffile" \
        contains "$SCRATCH/deb-conffiles" /etc/firetail/agent.json
    check "deb: control names the package, depends on passwd, carries the maintainer scripts" \
        contains "$SCRATCH/deb-info" "Package: firetail" "passwd" postinst prerm postrm
    deb_depends_on() { grep -E "^ *Depends:.*\\b$1\\b" "$SCRATCH/deb-info"; }
    check "deb: depends on ca-certificates (TLS roots on a minimal image)" deb_depends_on ca-certificates
    check "deb: depends on procps (/bin/kill for ExecReload)" deb_depends_on procps
    deb_binary_mode() { grep -E '^-rwxr-xr-x .* \./usr/bin/firetail$' "$SCRATCH/deb-contents"; }
    check "deb: /usr/bin/firetail is 0755" deb_binary_mode

    mkdir -p "$SCRATCH/deb-x"
    dpkg-deb -x "$DEB" "$SCRATCH/deb-x"
    local shipped="$SCRATCH/deb-x/usr/bin/firetail"
    check_verbose "shipped binary: highest GLIBC symbol version <= $MAX_GLIBC (objdump -T)" \
        glibc_at_most "$shipped"
    check "shipped binary: no test-only fault compiled in" no_test_fault "$shipped"
    deb_libc_dependency() {
        local declared needed
        declared=$(sed -n 's/^ *Depends:.*libc6 (>= \([0-9.]*\)).*/\1/p' "$SCRATCH/deb-info")
        needed=$(glibc_needed "$shipped")
        echo "Depends: libc6 (>= ${declared:-?}); the binary needs $needed"
        [ -n "$declared" ] &&
            [ "$(printf '%s\n%s\n' "$needed" "$declared" | sort -V | tail -1)" = "$declared" ] &&
            [ "$(printf '%s\n%s\n' "$declared" "$MAX_GLIBC" | sort -V | tail -1)" = "$MAX_GLIBC" ]
    }
    check_verbose "deb: the libc6 dependency covers what the binary needs and allows glibc $MAX_GLIBC" \
        deb_libc_dependency

    [ -f "$RPM" ] || return 0
    rpm -qpl "$RPM" > "$SCRATCH/rpm-list" 2>/dev/null
    rpm -qp --scripts "$RPM" > "$SCRATCH/rpm-scripts" 2>/dev/null
    rpm -qp --requires "$RPM" > "$SCRATCH/rpm-requires" 2>/dev/null
    rpm -qp --qf '[%{FILENAMES}|%{FILEFLAGS:fflags}|%{FILEUSERNAME}:%{FILEGROUPNAME}|%{FILEMODES:perms}\n]' \
        "$RPM" > "$SCRATCH/rpm-files" 2>/dev/null
    check "rpm contents: binary, unit, config, docs, man pages, completions" \
        contains "$SCRATCH/rpm-list" \
        /usr/bin/firetail \
        /usr/lib/systemd/system/firetail.service \
        /etc/firetail/agent.json \
        /usr/share/doc/firetail/operations.md \
        /usr/share/man/man1/firetail.1.gz \
        /usr/share/bash-completion/completions/firetail \
        /usr/share/zsh/site-functions/_firetail \
        /usr/share/fish/vendor_completions.d/firetail.fish
    # FILEFLAGS letters: c = %config, n = noreplace.
    rpm_config_noreplace() { grep -E '^/etc/firetail/agent.json\|[a-z]*c[a-z]*\|' "$SCRATCH/rpm-files" | grep -qE '\|[a-z]*n[a-z]*\|'; }
    check "rpm: agent.json is %config(noreplace)" rpm_config_noreplace
    check "rpm: /usr/bin/firetail is root:root -rwxr-xr-x" \
        contains "$SCRATCH/rpm-files" "/usr/bin/firetail||root:root|-rwxr-xr-x"
    check "rpm: scriptlets create the user and directories, enable on install, restart on upgrade, stop on erase" \
        contains "$SCRATCH/rpm-scripts" "preinstall scriptlet" "useradd --system" \
        "install -d -o firetail -g firetail -m 0750 /var/lib/firetail" \
        "systemctl --no-reload enable firetail.service" "try-restart firetail.service" \
        "systemctl stop firetail.service"
    check "rpm: requires shadow-utils, ca-certificates and util-linux (kill)" \
        contains "$SCRATCH/rpm-requires" shadow-utils ca-certificates util-linux
}
