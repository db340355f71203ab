#!/usr/bin/env bash
# A throwaway host to try the Ansible role on, without a spare machine: the container the
# Ansible test deploys to (tests/deploy/target.Containerfile: Debian with systemd and sshd),
# reachable on loopback ports you choose. `make ansible-target` runs this; see
# docs/ansible.md, "Try the role without a spare host".
#
#   deploy/ansible/try-target.sh start DIR SSH_PORT HTTP_PORT HTTPS_PORT
#   deploy/ansible/try-target.sh stop
#
# start writes DIR/id_ed25519 (the SSH key root logs in with) and DIR/inventory.yml (the
# container as the one host of the group dynopypi). Needs root, podman and, for the local
# base image, debootstrap. BASE: the image to build on (default: the local Debian base that
# deploy/container/base-image.sh makes; docker.io/library/debian:bookworm-slim works too).
set -euo pipefail

name=dynopypi-try-target
image=localhost/dynopypi-try-target
base="${BASE:-localhost/dynopypi-base:bookworm}"
repo=$(cd "$(dirname "$0")/../.." && pwd)

if [ "${1:-}" = stop ]; then
    podman rm --force --volumes --time 0 "$name"
    exit 0
fi
if [ "${1:-}" != start ] || [ $# -ne 5 ]; then
    echo "usage: $0 start DIR SSH_PORT HTTP_PORT HTTPS_PORT | $0 stop" >&2
    exit 2
fi
dir=$2 ssh_port=$3 http_port=$4 https_port=$5

case "$base" in localhost/dynopypi-base:*) "$repo/deploy/container/base-image.sh" "$base" ;; esac
podman build --quiet --format docker --build-arg "BASE=$base" \
    -f "$repo/tests/deploy/target.Containerfile" -t "$image" "$repo/tests/deploy" >/dev/null
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$dir/id_ed25519"
podman rm --force --volumes --time 0 "$name" >/dev/null 2>&1 || true
podman run -d --name "$name" --privileged --systemd=always \
    -p "127.0.0.1:$ssh_port:22" -p "127.0.0.1:$http_port:80" -p "127.0.0.1:$https_port:443" \
    -v "$dir/id_ed25519.pub:/root/.ssh/authorized_keys:ro" "$image" >/dev/null
cat > "$dir/inventory.yml" <<END
# The throwaway target of make ansible-target (podman container $name).
dynopypi:
  hosts:
    try-target:
      ansible_host: 127.0.0.1
      ansible_port: $ssh_port
      ansible_user: root
      ansible_ssh_private_key_file: $dir/id_ed25519
      ansible_ssh_common_args: -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no
      ansible_python_interpreter: /usr/bin/python3
  vars:
    dynopypi_server_name: localhost
    dynopypi_accounts:
      - name: alice
        password: "{{ alice_password }}"
END
echo "target $name: ssh root@127.0.0.1 -p $ssh_port -i $dir/id_ed25519"
echo "its nginx: http://127.0.0.1:$http_port/ (https on $https_port); inventory: $dir/inventory.yml"
echo "remove it with: make ansible-target-stop"
