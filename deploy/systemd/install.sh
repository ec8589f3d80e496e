#!/bin/sh
# Installs, upgrades and rolls back autoconfig as a systemd service on Debian (docs/systemd.md).
#
#   install.sh [install] [--from SOURCE] [--settings FILE] [--release NAME]
#   install.sh rollback            switch back to the release served before the last switch
#   install.sh switch RELEASE      serve another installed release
#   install.sh status              the installed releases, the one served and the previous one
#
# install takes a server from nothing to a running, enabled service, and is safe to run again: each run
# builds a release (a venv of its own in /opt/autoconfig/releases/NAME) from SOURCE (the checkout this
# script lives in, by default; or another checkout, or a wheel), checks the settings with it as the
# service's user, and only then points /opt/autoconfig/current at it and restarts the service. The user,
# the folders and the settings are made only when missing: a run never overwrites /etc/autoconfig.
#
# When systemd is not running (a chroot, a container, an image being built), everything is done but
# daemon-reload and starting the service, and it says so.
set -eu

NAME=autoconfig
PREFIX=/opt/autoconfig
RELEASES=$PREFIX/releases
CONFIG_DIR=/etc/autoconfig
SETTINGS=$CONFIG_DIR/settings.toml
STATE_DIR=/var/lib/autoconfig
UNIT=autoconfig.service
UNIT_DIR=/etc/systemd/system
KEEP=3 # releases kept besides the current and the previous one
HERE=$(cd "$(dirname "$0")" && pwd)

# The venvs must be readable by the service's user, whatever root's umask is.
umask 022

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}

booted() {
    # sd_booted(3): systemd is PID 1 and manages this system.
    [ -d /run/systemd/system ]
}

# --- what the system needs ------------------------------------------------------------------------------

ensure_packages() {
    # python3 3.11+ with venv for the releases; /bin/kill (procps) for the unit's ExecReload, which a
    # minimal Debian lacks.
    missing=
    python3 -c 'import ensurepip, venv, tomllib' 2>/dev/null || missing="python3 python3-venv ca-certificates"
    [ -x /bin/kill ] || missing="$missing procps"
    [ -n "$missing" ] || return 0
    command -v apt-get >/dev/null || die "missing, and no apt-get to install them: $missing"
    say "installing from Debian's packages: $missing"
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    python3 -c 'import ensurepip, venv, tomllib' || die "python3 is older than 3.11: autoconfig needs 3.11"
}

ensure_user() {
    install -D -m 0644 "$HERE/autoconfig.sysusers" /etc/sysusers.d/$NAME.conf
    if ! getent passwd $NAME >/dev/null; then
        if command -v systemd-sysusers >/dev/null; then
            systemd-sysusers /etc/sysusers.d/$NAME.conf
        else
            useradd --system --user-group --home-dir $STATE_DIR --no-create-home \
                --shell /usr/sbin/nologin --comment "autoconfig mail client autoconfiguration" $NAME
        fi
        say "created the system user $NAME"
    fi
}

ensure_folders() {
    install -D -m 0644 "$HERE/autoconfig.tmpfiles" /etc/tmpfiles.d/$NAME.conf
    if command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles --create /etc/tmpfiles.d/$NAME.conf
    else
        install -d -m 0750 -o root -g $NAME $CONFIG_DIR
        install -d -m 0700 -o $NAME -g $NAME $STATE_DIR
        install -d -m 0755 $PREFIX $RELEASES
    fi
}

# --- releases -------------------------------------------------------------------------------------------

source_version() { # SOURCE -> the version it installs
    case $1 in
    *.whl) basename "$1" | cut -d- -f2 ;;
    *)
        [ -f "$1/pyproject.toml" ] || die "$1 is neither a checkout of autoconfig nor a wheel"
        # One place holds the version, which the build reads too (pyproject.toml's [tool.hatch.version]).
        sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' "$1/autoconfig/__init__.py"
        ;;
    esac
}

release_name() { # SOURCE -> VERSION-COMMIT for a clean checkout, VERSION-TIME otherwise
    version=$(source_version "$1")
    if [ -d "$1" ] && command -v git >/dev/null && git -C "$1" rev-parse --git-dir >/dev/null 2>&1 &&
        [ -z "$(git -C "$1" status --porcelain --untracked-files=no)" ]; then
        echo "$version-$(git -C "$1" rev-parse --short=12 HEAD)"
    else
        # Not a commit one can name again: each install is a release of its own.
        echo "$version-$(date -u +%Y%m%d%H%M%S)"
    fi
}

build_release() { # SOURCE NAME
    target=$RELEASES/$2
    if [ -f "$target/.complete" ]; then
        say "release $2 is already built: using it"
        return
    fi
    rm -rf "$target" # an interrupted build
    say "building release $2 in $target"
    # A venv's scripts hold its absolute path: it is built where it stays, and never moved.
    python3 -m venv "$target"
    "$target/bin/pip" install --quiet --disable-pip-version-check --no-warn-script-location "$1"
    "$target/bin/autoconfig" --version >/dev/null
    printf '%s\n' "$1" >"$target/.complete"
}

current_release() { # the release /opt/autoconfig/current points at, or nothing
    if [ -L $PREFIX/current ]; then basename "$(readlink $PREFIX/current)"; fi
}

previous_release() {
    if [ -L $PREFIX/previous ]; then basename "$(readlink $PREFIX/previous)"; fi
}

link() { # NAME LINK: point LINK at releases/NAME atomically (rename over the old link)
    ln -sfn "releases/$1" "$PREFIX/.$2.new"
    mv -Tf "$PREFIX/.$2.new" "$PREFIX/$2"
}

prune() {
    current=$(current_release)
    previous=$(previous_release)
    # Newest first; the current and the previous one are always kept.
    ls -1t $RELEASES | while read -r release; do
        if [ "$release" = "$current" ] || [ "$release" = "$previous" ]; then continue; fi
        KEEP=$((KEEP - 1))
        if [ $KEEP -lt 0 ]; then
            say "removing the old release $release"
            rm -rf "${RELEASES:?}/$release"
        fi
    done
}

# --- settings -------------------------------------------------------------------------------------------

ensure_settings() { # RELEASE [FILE]
    if [ -e $SETTINGS ]; then
        if [ -n "${2:-}" ]; then say "$SETTINGS exists: kept as it is, $2 not copied"; fi
        return
    fi
    file=${2:-}
    if [ -z "$file" ]; then
        file=$("$RELEASES/$1/bin/python" -c 'from autoconfig.paths import default_settings_path as d; print(d())')
        say "no settings yet: $SETTINGS is a copy of the bundled default (the Académie de Paris); edit it"
    fi
    install -m 0640 -o root -g $NAME "$file" $SETTINGS
}

check_settings() { # RELEASE: `autoconfig check` as the service will run, its user and its environment
    say "checking $SETTINGS with release $1, as the user $NAME"
    (cd / && runuser -u $NAME -- env AUTOCONFIG_SETTINGS=$SETTINGS AUTOCONFIG_STATE_DIR=$STATE_DIR \
        "$RELEASES/$1/bin/autoconfig" check --settings $SETTINGS) ||
        die "the settings do not pass with release $1: nothing switched, the service is unchanged"
}

# --- the service ----------------------------------------------------------------------------------------

install_unit() {
    install -D -m 0644 "$HERE/$UNIT" $UNIT_DIR/$UNIT
}

enable_unit() {
    if command -v systemctl >/dev/null; then
        # Without systemd running, systemctl enable works on the files alone.
        systemctl enable --quiet $UNIT
    else
        mkdir -p $UNIT_DIR/multi-user.target.wants
        ln -sfn $UNIT_DIR/$UNIT $UNIT_DIR/multi-user.target.wants/$UNIT
    fi
}

restart_service() {
    if ! booted; then
        say "systemd is not running here (a chroot or a container): $UNIT is installed and enabled," \
            "not started; it starts at the next boot, or with: systemctl start $NAME"
        return
    fi
    systemctl daemon-reload
    # New code needs a new process: a reload (SIGHUP) re-reads the settings only.
    systemctl restart $UNIT
    tries=0
    while [ $tries -lt 10 ]; do
        sleep 1
        if systemctl is-failed --quiet $UNIT; then
            journalctl -u $NAME -n 20 --no-pager >&2 || true
            die "$UNIT failed to start: see above, and journalctl -u $NAME"
        fi
        tries=$((tries + 1))
    done
    say "$UNIT is running release $(current_release): systemctl status $NAME, journalctl -u $NAME"
}

serve_release() { # RELEASE: check it, point current at it, restart
    [ -f "$RELEASES/$1/.complete" ] || die "no complete release $1 in $RELEASES"
    check_settings "$1"
    before=$(current_release)
    if [ "$before" != "$1" ]; then
        if [ -n "$before" ]; then link "$before" previous; fi
        link "$1" current
        say "serving release $1${before:+ (previously $before)}"
    fi
    install_unit
    enable_unit
    restart_service
}

# --- commands -------------------------------------------------------------------------------------------

install_command() {
    source=
    settings=
    release=
    while [ $# -gt 0 ]; do
        case $1 in
        --from) source=${2:?--from needs a checkout or a wheel} && shift 2 ;;
        --settings) settings=${2:?--settings needs a file} && shift 2 ;;
        --release) release=${2:?--release needs a name} && shift 2 ;;
        *) die "unknown option $1 (see the top of $0)" ;;
        esac
    done
    source=${source:-$(cd "$HERE/../.." && pwd)}
    source=$(cd "$(dirname "$source")" && pwd)/$(basename "$source")
    if [ -n "$settings" ]; then
        [ -f "$settings" ] || die "no settings file $settings"
        settings=$(cd "$(dirname "$settings")" && pwd)/$(basename "$settings")
    fi
    ensure_packages
    ensure_user
    ensure_folders
    release=${release:-$(release_name "$source")}
    case $release in *[!A-Za-z0-9._+-]* | "" | .*) die "bad release name: $release" ;; esac
    build_release "$source" "$release"
    ensure_settings "$release" "$settings"
    serve_release "$release"
    prune
}

status_command() {
    current=$(current_release)
    previous=$(previous_release)
    for release in $(ls -1t $RELEASES 2>/dev/null); do
        mark=
        [ "$release" = "$current" ] && mark=" (current)"
        [ "$release" = "$previous" ] && mark=" (previous)"
        echo "$release$mark"
    done
}

[ "$(id -u)" -eq 0 ] || die "run as root (or with sudo)"
command=install
case ${1:-} in
install | rollback | switch | status) command=$1 && shift ;;
esac
case $command in
install) install_command "$@" ;;
rollback)
    previous=$(previous_release)
    [ -n "$previous" ] || die "no previous release to roll back to"
    serve_release "$previous"
    ;;
switch) serve_release "${1:?switch needs a release name (install.sh status lists them)}" ;;
status) status_command ;;
esac
