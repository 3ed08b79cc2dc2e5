# firetail .rpm %post ($1: 1 = install, 2 = upgrade). Enable, never start, on a first
# install: the shipped agent.json names a placeholder stream. An upgrade keeps whatever
# the administrator chose. systemctl enable works without a running systemd (it only
# writes symlinks), so image builds and containers get an enabled unit too.
# The directories are made here rather than listed as package contents (cargo-generate-rpm
# cannot pack empty directories); %postun removes them on erase when empty.
install -d -o firetail -g firetail -m 0750 /var/lib/firetail
install -d -m 0755 /etc/firetail/agent.d
if [ "$1" -eq 1 ]; then
    systemctl --no-reload enable firetail.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
