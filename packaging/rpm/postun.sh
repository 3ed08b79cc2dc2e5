# firetail .rpm %postun ($1: 0 = erase, 1 = upgrade). After an upgrade, restart the
# daemon on the new binary only if it was running. RPM has no purge: /var/lib/firetail
# (checkpoints) is kept on erase when not empty, so a reinstall resumes where it stopped.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart firetail.service >/dev/null 2>&1 || :
    fi
fi
exit 0
