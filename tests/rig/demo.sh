#!/usr/bin/env bash
# `make demo`: the collection at work on a disposable container and, read-only, on this machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name="keepalive-demo-$$"
image=localhost/linuxnet-keepalive-debian:bookworm

cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
}
trap cleanup EXIT

report() {  # report HOST CONNECTION [EXTRA VARS]: the collection's own report playbook, as a user runs it
  ANSIBLE_NOCOLOR=1 ANSIBLE_CALLBACK_RESULT_FORMAT=yaml ANSIBLE_LOCALHOST_WARNING=false \
    ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
    ansible-playbook -i "$1," -c "$2" linuxnet.keepalive.report -e "${3:-{\}}" \
    | sed -n '/msg:/,/^$/p' | sed -e '1d' -e "s/^    - '\{0,1\}//" -e "s/'\$//"
}

adhoc() {  # adhoc MODULE ARGS [EXTRA PATTERN]: one module ad hoc on the container, its diff and its verdict
  ANSIBLE_NOCOLOR=1 ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ansible all -i "$name," -c containers.podman.podman \
    -m "linuxnet.keepalive.$1" -a "$2" --diff \
    | grep -E "^[-+@]|^---|^\\+\\+\\+${3:-}| \\| (CHANGED|SUCCESS|FAILED)" | sed 's/ =>.*//'
}

echo "== booting a disposable container ($image)"
# Its own cgroup namespace and a cgroup2-only /sys/fs/cgroup, as on a stock Debian host (tests/rig/build-image.sh)
podman run -d --name "$name" --privileged --systemd=always --cgroupns=private "$image" /usr/local/sbin/init-cgroup2 >/dev/null
for _ in $(seq 1 100); do
  state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
  [ "$state" = running ] && break
  sleep 0.2
done
echo "systemd in the container: $state"

echo "== starting a service in it that opens one connection with SO_KEEPALIVE and one without"
start_app() {
  podman exec "$name" rm -f /run/probe.ready /run/probe.stop
  podman exec "$name" systemd-run --quiet --unit=legacy-app --collect \
    python3 /usr/local/bin/connection_probe.py 8080 /run/probe.ready /run/probe.stop
  for _ in $(seq 1 50); do podman exec "$name" test -e /run/probe.ready && break; sleep 0.1; done
}
stop_app() {
  podman exec "$name" touch /run/probe.stop
  for _ in $(seq 1 50); do podman exec "$name" systemctl -q is-active legacy-app || break; sleep 0.1; done
}
podman cp "$root/molecule/default/files/connection_probe.py" "$name:/usr/local/bin/connection_probe.py"
start_app
echo "\$ ss -tno state established   (inside the container, before the role)"
podman exec "$name" ss -tno state established
echo

echo "== applying the role linuxnet.keepalive.keepalive (time 120 s, intvl 30 s, probes 4)"
ANSIBLE_NOCOLOR=1 ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_DISPLAY_SKIPPED_HOSTS=false \
  ansible-playbook -i "$name," -c containers.podman.podman "$here/demo_role.yml" | grep -v '^$'
echo

echo "== restarting the service, so that it opens its connections again"
stop_app
start_app
echo "\$ ss -tno state established   (inside the container, after the role)"
podman exec "$name" ss -tno state established
echo "The socket that sets SO_KEEPALIVE now probes after 2 minutes instead of 2 hours. The one that"
echo "does not set it still has no timer: no sysctl turns keep-alive on for a socket."
echo

echo "== live fix: keepalive_sockets on the running service, without restarting it"
adhoc keepalive_sockets "unit=legacy-app idle=60 interval=15 count=4"
echo "\$ ss -tno state established   (inside the container, after the live fix)"
podman exec "$name" ss -tno state established
echo

echo "== the cgroup program: keepalive_cgroup on system.slice, where the service runs (live only)"
adhoc keepalive_cgroup "cgroups=/system.slice idle=45 interval=15 count=4 persist=false" '|"msg"'
echo "== restarting the service: the kernel gives every new connection of its cgroup keep-alive"
stop_app
start_app
echo "\$ ss -tno state established   (inside the container, with the cgroup program)"
podman exec "$name" ss -tno state established
echo "Both of the service's connections now probe after 45 s, the one whose program never set SO_KEEPALIVE"
echo "too: no preload, no compiler; static and Go programs get it alike."
echo

echo "== linuxnet.keepalive.report on the container"
report "$name" containers.podman.podman
echo "== linuxnet.keepalive.report on this machine (read-only)"
report localhost local '{"keepalive_report_directions": ["outbound", "inbound"]}'

echo
python3 "$here/middlebox.py" demo
