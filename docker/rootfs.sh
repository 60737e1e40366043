#!/usr/bin/env bash
# Assemble the root filesystem of a `FROM scratch` phpeek-pm image in a directory.
#
#   docker/rootfs.sh BINARY OUTDIR [CONFIG...]
#
# OUTDIR/rootfs/ receives:
#   /usr/local/bin/phpeek-pm         the static binary (BINARY)
#   /etc/phpeek-pm/<name of CONFIG>  each CONFIG; the first is also phpeek-pm.yaml (the default path)
#   /bin/busybox + one symlink per applet (sh, sleep, id, ps, ...), from Debian's busybox-static,
#                                    so children that need a shell have one
#   /etc/passwd, /etc/group          root and app (1000:1000), read by `user:`/`group:` keys
#   /tmp (1777), empty /proc /sys /dev /run as mount points
# and OUTDIR/Dockerfile is a copy of docker/scratch.Dockerfile, so `docker build OUTDIR` works.
# Nothing is downloaded: busybox comes from the host (scripts/ensure-deps.sh test installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

bin=${1:?usage: $0 BINARY OUTDIR [CONFIG...]}
out=${2:?usage: $0 BINARY OUTDIR [CONFIG...]}
shift 2

busybox=/bin/busybox
if ! [ -x "$busybox" ] || ! file -L "$busybox" | grep -q 'statically linked'; then
    echo "rootfs: $busybox is missing or not static: install Debian's busybox-static" >&2
    exit 1
fi

r="$out/rootfs"
rm -rf "$r"
mkdir -p "$r"/{bin,usr/local/bin,etc/phpeek-pm,tmp,proc,sys,dev,run,var/www}
chmod 1777 "$r/tmp"
install -m 0755 "$bin" "$r/usr/local/bin/phpeek-pm"
install -m 0755 "$busybox" "$r/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"
done
cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/var/www:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$r/etc/group" <<'EOF'
root:x:0:
app:x:1000:
nogroup:x:65534:
EOF
first=1
for cfg in "$@"; do
    install -m 0644 "$cfg" "$r/etc/phpeek-pm/$(basename "$cfg")"
    if [ "$first" = 1 ]; then
        install -m 0644 "$cfg" "$r/etc/phpeek-pm/phpeek-pm.yaml"
        first=0
    fi
done
cp "$here/scratch.Dockerfile" "$out/Dockerfile"
