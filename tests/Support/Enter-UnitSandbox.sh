#!/bin/sh
# Runs a command in an emulation of the sandbox that examples/tunnellite-*.service asks systemd for, so that a test can check
# that pwsh and TunnelLite work in it on a machine where systemd is not PID 1 (a container, a CI runner). Emulated:
#   ProtectSystem=strict   every mount read-only, except /proc, /dev, /sys and the rw: directories below (StateDirectory=)
#   ProtectHome=yes        /root and /home empty (and read-only)
#   PrivateTmp=yes         /tmp and /var/tmp empty, private
#   DynamicUser=yes        a user and group id without a passwd entry and without supplementary groups
#   NoNewPrivileges=yes, CapabilityBoundingSet=   no_new_privs, no capability at all
# Not emulated: SystemCallFilter= and the other seccomp and namespace options (RestrictAddressFamilies=, ...).
#
# Usage, as root: unshare --mount -- sh Enter-UnitSandbox.sh UID [rw:]SOURCE=/opt/DEST ... -- COMMAND ARGS...
# Each SOURCE is bound to DEST under a fresh /opt (where the units keep PowerShell, the module and the test's files), before
# the tree becomes read-only; rw: keeps one writable. The command replaces this shell (exec), so it keeps the process id
# that the caller started, and signals sent to that id reach it.
set -eu
uid=$1; shift
mount -t tmpfs -o mode=755 tmpfs /opt
rw=''
while [ "$1" != '--' ]; do
    spec=$1; shift
    case "$spec" in rw:*) spec=${spec#rw:}; writable=1 ;; *) writable=0 ;; esac
    src=${spec%%=*}; dst=${spec#*=}
    case "$dst" in /opt/*) ;; *) echo "Enter-UnitSandbox: $dst is not under /opt" >&2; exit 2 ;; esac
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
    if [ "$writable" = 1 ]; then rw="$rw $dst"; fi
done
shift
# ProtectSystem=strict. A mount that refuses to become read-only (some special file systems) is left as it is.
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r mp; do
    case "$mp" in /proc | /proc/* | /dev | /dev/* | /sys | /sys/*) continue ;; esac
    for w in $rw; do [ "$mp" = "$w" ] && continue 2; done
    mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
# ProtectHome=yes, PrivateTmp=yes: mounted after the binds above, whose sources may lie under them.
mount -t tmpfs -o ro,mode=755 tmpfs /root
mount -t tmpfs -o ro,mode=755 tmpfs /home
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs --bounding-set=-all --inh-caps=-all -- "$@"
