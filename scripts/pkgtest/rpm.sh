# shellcheck shell=bash
# scripts/test-packages, the .rpm part: install, upgrade and erase in an rpm root.
#
# The root is the bookworm container root under an overlay mount (changes discarded): rpm
# runs the scriptlets chrooted into it, so it needs a shell, useradd and systemctl, which
# a Debian tree has. Not covered here, because no RPM distribution can be bootstrapped
# from the registries this machine reaches: dnf resolving Requires (run with --nodeps),
# the scriptlets against a running systemd, SELinux labels, RPM 4.11 (Amazon Linux 2).

rpm_root_checks() {
    local base
    base=$(scripts/container-root bookworm) || { not_ok "rpm root: a Debian tree to install into"; return; }
    local dir="$SCRATCH/rpmroot"
    mkdir -p "$dir/upper" "$dir/work" "$dir/root"
    if ! mount -t overlay overlay -o "lowerdir=$base,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"; then
        not_ok "rpm root: overlay mount of $base"
        return
    fi
    RPM_MOUNT="$dir/root"
    local R="$dir/root"
    rpmr() { rpm --root "$R" --dbpath /var/lib/rpm "$@"; }
    check "rpm --initdb in the rpm root" rpmr --initdb
    check "rpm -ivh --nodeps installs the .rpm (scriptlets run chrooted)" \
        rpmr -ivh --nodeps "$SCRATCH/pkg/firetail.rpm"
    check "rpm -q firetail" rpmr -q firetail
    check "rpm root: binary, unit, agent.json installed" \
        test -x "$R/usr/bin/firetail" -a -f "$R/usr/lib/systemd/system/firetail.service" -a -f "$R/etc/firetail/agent.json"
    rpm_user() {
        local entry
        entry=$(grep '^firetail:' "$R/etc/passwd") || { echo "no firetail user"; return 1; }
        echo "$entry"
        [ "$(cut -d: -f6 <<<"$entry")" = /var/lib/firetail ] &&
            [[ "$(cut -d: -f7 <<<"$entry")" == */nologin ]] &&
            [ "$(cut -d: -f3 <<<"$entry")" -lt 1000 ]
    }
    check "rpm %pre: system user firetail, home /var/lib/firetail, nologin" rpm_user
    rpm_in_adm() { grep -E '^adm:.*[:,]firetail(,|$)' "$R/etc/group"; }
    check "rpm %pre: firetail is in group adm" rpm_in_adm
    rpm_state_dir() { [ "$(chroot "$R" stat -c '%U:%G %a' /var/lib/firetail)" = "firetail:firetail 750" ]; }
    check "rpm %post: /var/lib/firetail is firetail:firetail 0750" rpm_state_dir
    check "rpm %post: /etc/firetail/agent.d exists" test -d "$R/etc/firetail/agent.d"
    check "rpm %post: the unit is enabled (offline systemctl enable)" \
        test -L "$R/etc/systemd/system/multi-user.target.wants/firetail.service"
    check "rpm root: firetail --version runs as user firetail" \
        chroot "$R" setpriv --reuid=firetail --regid=firetail --init-groups /usr/bin/firetail --version

    # Upgrade: same payload, release 2; keeps an edited agent.json and checkpoints.
    echo '// edited by test-packages' >> "$R/etc/firetail/agent.json"
    echo '{}' > "$R/var/lib/firetail/checkpoints.json"
    rpm_upgrade_package
    if [ -f "$SCRATCH/pkg/firetail-release2.rpm" ]; then
        check "rpm -Uvh upgrades to release 2" rpmr -Uvh --nodeps "$SCRATCH/pkg/firetail-release2.rpm"
        check "rpm upgrade keeps the edited agent.json (%config(noreplace))" \
            grep -qF '// edited by test-packages' "$R/etc/firetail/agent.json"
        check "rpm upgrade keeps /var/lib/firetail/checkpoints.json" test -f "$R/var/lib/firetail/checkpoints.json"
        check "rpm upgrade keeps the unit enabled" \
            test -L "$R/etc/systemd/system/multi-user.target.wants/firetail.service"
    else
        not_ok "cargo generate-rpm builds a release-2 package for the upgrade"
    fi

    check "rpm -e erases the package" rpmr -e firetail
    check "rpm -e removes the binary and the unit" \
        test ! -e "$R/usr/bin/firetail" -a ! -e "$R/usr/lib/systemd/system/firetail.service"
    check "rpm %preun: the enable symlink is gone" \
        test ! -L "$R/etc/systemd/system/multi-user.target.wants/firetail.service"
    check "rpm -e saves the edited agent.json as agent.json.rpmsave" test -f "$R/etc/firetail/agent.json.rpmsave"
    check "rpm %postun: /var/lib/firetail with checkpoints is kept (RPM has no purge)" \
        test -f "$R/var/lib/firetail/checkpoints.json"
    check "rpm %postun: the empty /etc/firetail/agent.d is removed" test ! -e "$R/etc/firetail/agent.d"
    grep -q '^firetail:' "$R/etc/passwd" && note "the firetail user stays after rpm -e (by design)"
    note "not covered for the .rpm: a booted RPM distribution, dnf dependency resolution, SELinux, RPM 4.11"

    umount "$R" && RPM_MOUNT=""
}

# A second .rpm, release 2 of the same build, for the upgrade path (packing only).
rpm_upgrade_package() {
    local triple
    triple=$(cat "$OUT/.target" 2>/dev/null)
    (
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
        mkdir -p "$SCRATCH/rpm2"
        cargo generate-rpm --target-dir "$TARGET" ${triple:+--target "$triple"} \
            --set-metadata 'release = "2"' --output "$SCRATCH/rpm2/" >/dev/null 2>&1
    )
    local built
    built=$(ls "$SCRATCH"/rpm2/*.rpm 2>/dev/null | head -1)
    [ -n "$built" ] && cp "$built" "$SCRATCH/pkg/firetail-release2.rpm"
}
