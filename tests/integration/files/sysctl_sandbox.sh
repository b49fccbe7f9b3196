# Run a command with private keep-alive sysctls and private sysctl configuration directories.
#
# Usage (as root): unshare -n -m -- sh sysctl_sandbox.sh WORK COMMAND...
# WORK holds etc.sysctl.d/, run.sysctl.d/, usr.local.lib.sysctl.d/, usr.lib.sysctl.d/ and sysctl.conf;
# each is bind-mounted over the real path inside this mount namespace only, so the host's files and
# kernel settings never change. With RO_PROC_SYS=1, /proc/sys is read-only in here.
# After the command, WORK/running holds the namespace's keep-alive values, one per line.
set -eu
work=$1
shift
mount --make-rprivate /
ip link set lo up
# /run and /usr/local/lib may lack a sysctl.d folder; a tmpfs over the parent gives a mount point
# without creating anything on the host.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sysctl.d
mount -t tmpfs -o mode=0755 tmpfs /usr/local/lib
mkdir -p /usr/local/lib/sysctl.d
mount --bind "$work/etc.sysctl.d" /etc/sysctl.d
mount --bind "$work/run.sysctl.d" /run/sysctl.d
mount --bind "$work/usr.local.lib.sysctl.d" /usr/local/lib/sysctl.d
mount --bind "$work/usr.lib.sysctl.d" /usr/lib/sysctl.d
mount --bind "$work/sysctl.conf" /etc/sysctl.conf
if [ "${RO_PROC_SYS:-0}" = 1 ]; then
  mount --bind /proc/sys /proc/sys
  mount -o remount,bind,ro /proc/sys
fi
status=0
"$@" || status=$?
cat /proc/sys/net/ipv4/tcp_keepalive_time /proc/sys/net/ipv4/tcp_keepalive_intvl \
  /proc/sys/net/ipv4/tcp_keepalive_probes >"$work/running"
exit $status
