# shellcheck shell=bash
# scripts/test-packages, the arm64 part, when scripts/package built one
# (FIRETAIL_PACKAGE_ARM64=1): the package's architecture, the binary's glibc baseline,
# and the binary itself under qemu-user (qemu-aarch64 with an arm64 Debian sysroot):
# `firetail demo` generates logs, ships them through the real daemon code to the embedded
# Firehose, and verifies every line. Not covered: a booted arm64 system (systemd under
# full-system emulation would take far longer than the CI budget allows).

arm64_checks() {
    local deb
    deb=$(ls "$OUT"/firetail_*_arm64.deb 2>/dev/null | head -1)
    if [ -z "$deb" ]; then
        note "no arm64 package (built only with FIRETAIL_PACKAGE_ARM64=1 scripts/package)"
        return
    fi
    command -v qemu-aarch64 >/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null
    }
    local x="$SCRATCH/arm64"
    mkdir -p "$x"
    dpkg-deb -x "$deb" "$x/deb"
    check "arm64 deb: Architecture arm64, an aarch64 binary" bash -c \
        "dpkg-deb -f '$deb' Architecture | grep -qx arm64 && readelf -h '$x/deb/usr/bin/firetail' | grep -q AArch64"
    check_verbose "arm64 binary: highest GLIBC symbol version <= $MAX_GLIBC" glibc_at_most "$x/deb/usr/bin/firetail"
    check "arm64 rpm: an aarch64 package" bash -c "ls '$OUT'/firetail-*.aarch64.rpm"
    local sysroot
    if ! sysroot=$(scripts/container-root bookworm-arm64); then
        not_ok "an arm64 sysroot (scripts/container-root bookworm-arm64)"
        return
    fi
    check_verbose "arm64 binary under qemu-user: firetail --version" \
        qemu-aarch64 -L "$sysroot" "$x/deb/usr/bin/firetail" --version
    check_verbose "arm64 binary under qemu-user: firetail demo ships every line (10 s at 300 lines/s)" \
        qemu-aarch64 -L "$sysroot" "$x/deb/usr/bin/firetail" demo --duration 10 --rate 300 --rotate-size 200000
}
