# pnut's upsd and drivers in one container, as in README.md ("pnut upsdrvctl start"
# then "pnut upsd"), configured by NUT's files mounted at /etc/nut.
#
#   docker build -t pnut .
#   docker run -d --init --name pnut -p 3493:3493 -v /srv/nut:/etc/nut:ro pnut
#   docker run ... --device /dev/bus/usb ...      # for a USB UPS (usbhid-ups)
#
# --init reaps drivers that exit (upsd, the main process, does not).
# See docs/deploy.md#container.  The image runs no upsmon: the machines that
# must shut down run upsmon (NUT's or pnut's) and connect to this upsd.
FROM python:3.11-slim-bookworm

# The 'nut' account and NUT's directories, as Debian's nut-server package makes them:
# daemons started as root become 'nut'; /run/nut is root:nut 0770; /var/lib/nut
# keeps upsd's own certificate (when upsd.conf has no CERTFILE).
RUN groupadd --system nut \
 && useradd --system --gid nut --home-dir /var/lib/nut --shell /usr/sbin/nologin nut \
 && install -d -o root -g nut -m 0770 /run/nut \
 && install -d -o nut -g nut -m 0750 /var/lib/nut \
 && install -d -o root -g nut -m 0750 /etc/nut

COPY pyproject.toml README.md /src/
COPY src /src/src
RUN pip install --no-cache-dir /src && rm -rf /src

COPY docker/entrypoint.sh /usr/local/bin/pnut-entrypoint
RUN chmod 0755 /usr/local/bin/pnut-entrypoint

ENV NUT_CONFPATH=/etc/nut NUT_STATEPATH=/run/nut STATE_DIRECTORY=/var/lib/nut
VOLUME ["/etc/nut", "/var/lib/nut"]
EXPOSE 3493
HEALTHCHECK --interval=30s --timeout=10s CMD pnut upsc -l localhost >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/pnut-entrypoint"]
