#!/bin/sh
# Installs lmtally as a systemd service: the binary, the unit, and the example configuration
# (never over an existing one). Run from the repository, as root, after building:
#
#   cargo build --release && sudo systemd/install.sh            # target/release/lmtally
#   cargo install --path . && sudo systemd/install.sh ~/.cargo/bin/lmtally
#
# Then edit /etc/lmtally/lmtally.toml, check it, and start the service:
#   lmtally check-config --config /etc/lmtally/lmtally.toml
#   systemctl enable --now lmtally
#
# Environment: DESTDIR (a staging root, default none), BINDIR (default /usr/local/bin),
# UNITDIR (default /etc/systemd/system), CONFDIR (default /etc/lmtally).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../target/release/lmtally}
DESTDIR=${DESTDIR:-}
BINDIR=${BINDIR:-/usr/local/bin}
UNITDIR=${UNITDIR:-/etc/systemd/system}
CONFDIR=${CONFDIR:-/etc/lmtally}

if [ ! -x "$bin" ]; then
    echo "install.sh: $bin: no lmtally binary there; build it first (cargo build --release) or name it" >&2
    exit 1
fi

install -d -m 0755 "$DESTDIR$BINDIR" "$DESTDIR$UNITDIR" "$DESTDIR$CONFDIR"
install -m 0755 "$bin" "$DESTDIR$BINDIR/lmtally"
# The unit names the binary and the configuration by their installed paths.
sed -e "s#/usr/local/bin/lmtally#$BINDIR/lmtally#g" \
    -e "s#/etc/lmtally/lmtally.toml#$CONFDIR/lmtally.toml#g" \
    "$here/lmtally.service" >"$DESTDIR$UNITDIR/lmtally.service.tmp"
chmod 0644 "$DESTDIR$UNITDIR/lmtally.service.tmp"
mv "$DESTDIR$UNITDIR/lmtally.service.tmp" "$DESTDIR$UNITDIR/lmtally.service"
if [ -e "$DESTDIR$CONFDIR/lmtally.toml" ]; then
    echo "kept $DESTDIR$CONFDIR/lmtally.toml (the new example is $DESTDIR$CONFDIR/lmtally.toml.example)"
    install -m 0644 "$here/config.toml" "$DESTDIR$CONFDIR/lmtally.toml.example"
else
    install -m 0644 "$here/config.toml" "$DESTDIR$CONFDIR/lmtally.toml"
    echo "installed the example configuration $DESTDIR$CONFDIR/lmtally.toml: edit its [[server]]"
fi
echo "installed $DESTDIR$BINDIR/lmtally and $DESTDIR$UNITDIR/lmtally.service"

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if "$BINDIR/lmtally" check-config --config "$CONFDIR/lmtally.toml"; then
        echo "next: systemctl enable --now lmtally   (or: systemctl restart lmtally, when upgrading)"
    else
        echo "next: fix the configuration above, then: systemctl enable --now lmtally"
    fi
fi
