"""Browse ``_nut._tcp`` with python-zeroconf; print what was found as JSON.

Usage: browse.py INTERFACE-ADDRESS SECONDS.  Run inside the test's
network namespace; stops at the first service found or after SECONDS.
"""

import json
import sys
import time

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

found: dict[str, dict[str, object]] = {}


class Listener(ServiceListener):
    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        info = zc.get_service_info(type_, name, 3000)
        if info is not None:
            found[name] = {"port": info.port, "addresses": info.parsed_addresses(),
                           "server": info.server}

    update_service = add_service

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        found.pop(name, None)


zc = Zeroconf(interfaces=[sys.argv[1]])
browser = ServiceBrowser(zc, "_nut._tcp.local.", Listener())
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline and not found:
    time.sleep(0.1)
browser.cancel()
zc.close()
print(json.dumps(found))
