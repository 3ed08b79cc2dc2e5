# firetail .rpm %preun ($1: 0 = erase, 1 = upgrade). On erase: a graceful stop (drains
# in-flight batches, writes final checkpoints), then disable.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl stop firetail.service >/dev/null 2>&1 || :
    fi
    systemctl --no-reload disable firetail.service >/dev/null 2>&1 || :
fi
exit 0
