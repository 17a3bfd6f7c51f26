#!/bin/sh
# Container entry point: check the configuration, start every driver of
# ups.conf (they go to the background once their socket listens, and become
# user nut), then run upsd in the foreground as the container's main process
# (it becomes nut after binding port 3493).  "docker stop" sends upsd SIGTERM;
# the drivers go with the container.
set -e
pnut check-config --confdir "${NUT_CONFPATH:-/etc/nut}" || echo "pnut: continuing despite the problems above" >&2
pnut upsdrvctl start
exec pnut upsd -F "$@"
