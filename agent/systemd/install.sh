#!/usr/bin/env bash
# Installs the jenkins-sidecar systemd service on this host.
#
#   agent/systemd/install.sh [--prefix DIR] [--node PATH] [--root DIR] [--no-start]
#
# --prefix  where the project is checked out and built (npm ci && npm run build);
#           default: the checkout this script lives in.
# --node    the Node.js 20+ binary; default: `command -v node`.
# --root    install below DIR instead of / (packaging, tests): no user is
#           created and systemctl is not called.
# --no-start  install and enable, do not start.
#
# What it does (each step is idempotent, nothing existing is overwritten
# except the unit file itself):
#  1. creates the system user `jenkins-sidecar` and adds it to the `docker` and
#     `haproxy` groups when they exist (socket access without capabilities);
#  2. writes /etc/jenkins-sidecar/sidecar.env from sidecar.env.example (0640);
#  3. when no tokens file exists, generates an ops token: its SHA-256 goes to
#     /etc/jenkins-sidecar/tokens.yml (0640 root:jenkins-sidecar), the secret to
#     /root/jenkins-sidecar-ops.token (0600) — it is printed nowhere;
#  4. installs the unit with this host's node and prefix paths, checks it with
#     `systemd-analyze verify`, then `systemctl daemon-reload` and `enable --now`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="$(cd "$here/../.." && pwd)"
node="$(command -v node || true)"
root=""
start=1
user=jenkins-sidecar

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --node) node="${2:?--node needs a path}"; shift 2 ;;
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# Paths end up in a unit file: refuse anything that is not a plain absolute path.
for p in "$prefix" "$node"; do
  [[ "$p" =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "path '$p' must be absolute and contain only [A-Za-z0-9._/+-]"
done
[ -x "$node" ] || die "node not found or not executable ('$node'); pass --node /path/to/node (Node.js 20 or later)"
major="$("$node" -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || die "$node is Node.js $major; the sidecar needs 20 or later"
entry="$prefix/build/agent/src/bin/jenkins-sidecar.js"
if [ -z "$root" ] && [ ! -f "$entry" ]; then
  die "$entry is missing: run 'npm ci && npm run build' in $prefix first"
fi
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (or with --root DIR to stage the files)"
fi

etc="$root/etc/jenkins-sidecar"
unit_dir="$root/etc/systemd/system"
mkdir -p "$etc" "$unit_dir"

# 1. the service user
if [ -z "$root" ]; then
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/jenkins-sidecar --no-create-home --shell /usr/sbin/nologin "$user"
    say "created system user $user"
  fi
  for g in docker haproxy; do
    if getent group "$g" >/dev/null; then
      usermod -a -G "$g" "$user"
      say "$user is in group $g"
    else
      say "group $g does not exist: give $user access to the $g socket yourself (see docs/operations.md)"
    fi
  done
  group="$user"
else
  group="$(id -gn)"
fi

# 2. environment file
if [ ! -f "$etc/sidecar.env" ]; then
  install -m 0640 "$here/sidecar.env.example" "$etc/sidecar.env"
  [ -z "$root" ] && chown "root:$group" "$etc/sidecar.env"
  say "wrote $etc/sidecar.env: review it (database URL, HAProxy socket, teams file)"
fi

# 3. an ops token when there is no tokens file yet
if [ ! -f "$etc/tokens.yml" ]; then
  secret_file="$root/root/jenkins-sidecar-ops.token"
  mkdir -p "$(dirname "$secret_file")"
  (
    umask 077
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret_file"
  )
  sha="$(tr -d '\n' < "$secret_file" | sha256sum | cut -d' ' -f1)"
  (
    umask 027
    printf 'tokens:\n  - id: ops\n    sha256: %s\n    teams: ["*"]\n' "$sha" > "$etc/tokens.yml"
  )
  chmod 0640 "$etc/tokens.yml"
  [ -z "$root" ] && chown "root:$group" "$etc/tokens.yml"
  say "generated an ops token: secret in $secret_file (0600), its SHA-256 in $etc/tokens.yml"
fi

# 4. the unit, with this host's paths
unit="$unit_dir/jenkins-sidecar.service"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
# systemd-analyze wants the real unit name, so render into a scratch directory.
sed -e "s|^ExecStart=/usr/bin/node /opt/jenkins-selfmanage/|ExecStart=$node $prefix/|" \
    -e "s|^Documentation=file:/opt/jenkins-selfmanage/|Documentation=file:$prefix/|" \
    "$here/jenkins-sidecar.service" > "$stage/jenkins-sidecar.service"
if command -v systemd-analyze >/dev/null; then
  # It exits 0 on unknown keys and bad values and only warns: any output is a failure.
  out="$(systemd-analyze verify "$stage/jenkins-sidecar.service" 2>&1 || true)"
  [ -z "$out" ] || die "systemd-analyze verify complained about the unit: $out"
fi
# Same directory, then rename: the unit is never seen half-written.
install -m 0644 "$stage/jenkins-sidecar.service" "$unit_dir/.jenkins-sidecar.service.new"
mv "$unit_dir/.jenkins-sidecar.service.new" "$unit"
say "installed $unit"

if [ -n "$root" ]; then
  say "staged below $root; on the host run: systemctl daemon-reload && systemctl enable --now jenkins-sidecar"
  exit 0
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ "$start" -eq 1 ]; then
    systemctl enable --now jenkins-sidecar
    say "started; check it with: systemctl status jenkins-sidecar && sidecarctl doctor"
  else
    systemctl enable jenkins-sidecar
    say "enabled; start it with: systemctl start jenkins-sidecar"
  fi
else
  say "systemd is not running on this machine: start the sidecar another way (see docs/operations.md)"
fi
