# firetail .rpm %postun ($1: 0 = erase, 1 = upgrade). After an upgrade, restart the
# daemon on the new binary only if it was running. RPM has no purge: on erase the
# directories made by %post go only if empty, so checkpoints in /var/lib/firetail and
# flow files in agent.d survive and a reinstall resumes where it stopped.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart firetail.service >/dev/null 2>&1 || :
    fi
fi
if [ "$1" -eq 0 ]; then
    rmdir --ignore-fail-on-non-empty /etc/firetail/agent.d /etc/firetail /var/lib/firetail \
        2>/dev/null || :
fi
exit 0
