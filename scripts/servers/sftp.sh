#!/usr/bin/env bash
# OpenSSH's sshd (Debian's openssh-server) for the SFTP backend's tests. The tests start it
# themselves, in the foreground on a free loopback port, with their own config and keys
# (tests/servers/sftpstorage.py); nothing here starts a daemon (there is no init system to).
# Idempotent.
set -euo pipefail
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null; then
    echo "==> installing openssh-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        openssh-server openssh-client >/dev/null
fi
