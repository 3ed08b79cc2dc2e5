# firetail .rpm %pre: create the firetail user and group before the files (some are
# owned by firetail) are laid down. Keep in sync with ensure_user in packaging/deb/postinst.
if ! getent group firetail >/dev/null; then
    groupadd --system firetail
fi
if ! getent passwd firetail >/dev/null; then
    nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/sbin/nologin
    useradd --system --gid firetail --home-dir /var/lib/firetail --no-create-home \
        --shell "$nologin" --comment "firetail log shipper" firetail
fi
# adm is the conventional log-reader group. On RHEL-like systems /var/log/httpd is
# root-only, so this alone is not enough there: see operations.md for the ACL.
if getent group adm >/dev/null; then
    usermod --append --groups adm firetail
fi
exit 0
