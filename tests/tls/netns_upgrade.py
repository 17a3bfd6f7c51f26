"""Run inside ``unshare -n`` by test_upsd_own_cert.py: a NUT-style upsd.conf with
``LISTEN 0.0.0.0`` and no certificate, in a network namespace of its own (only
its loopback exists, so nothing listens on the host's interfaces).

Prints one JSON object with what the test checks.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support import NUT_BINDIR, PNUT, Stack, Ups, run, use_nut


def _offered(st: Stack) -> list[str]:
    """The start-up lines about upsd's own certificate, in upsd's one log file."""
    text = (st.dir / "upsd-pnut.log").read_text()
    return [line for line in text.splitlines() if "STARTTLS is offered" in line]


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    out: dict[str, object] = {}
    st = Stack([Ups("u", "ups.status: OL\nups.load: 7\n")])
    try:
        st.write("upsd.conf", f"LISTEN 0.0.0.0 {st.port}\n")
        st.start_driver(st.upses[0], "pnut")
        upsd = st.start_upsd("pnut")
        cert = st.dir / "lib" / "upsd-selfsigned.pem"
        out["cert_mode"] = oct(cert.stat().st_mode & 0o777)
        where = f"u@127.0.0.1:{st.port}"
        out["plain_upsc"] = run([*PNUT, "upsc", where, "ups.load"], env=st.env).stdout
        shown = run([*PNUT, "cert", "show", str(cert)], env=st.env).stdout
        pin = next(line.split()[-1] for line in shown.splitlines() if "sha256" in line.lower())
        out["pin"] = pin
        tls = run([*PNUT, "upsc", "--tls", "--pin", pin, where, "ups.load"], env=st.env)
        out["tls_upsc"] = tls.stdout + tls.stderr
        out["login_in_clear"] = st.talk(["USERNAME admin", 'PASSWORD "s3cret pw"', "LOGOUT"])
        if use_nut():
            nut = run([str(NUT_BINDIR / "upsc"), where, "ups.load"], env=st.env)
            out["nut_upsc"] = nut.stdout
        st.stop(upsd, signal.SIGTERM)
        out["log_first"] = _offered(st)
        st.start_upsd("pnut")
        shown = run([*PNUT, "cert", "show", str(cert)], env=st.env).stdout
        out["pin_after_restart"] = next(line.split()[-1] for line in shown.splitlines()
                                        if "sha256" in line.lower())
        st.stop(st.procs[-1], signal.SIGTERM)
        st.write("upsd.conf", f"LISTEN 0.0.0.0 {st.port}\nREQUIRE_TLS yes\n")
        st.start_upsd("pnut", wait_ups=False)
        out["required_plain"] = st.talk(["GET VAR u ups.load"])
        tls = run([*PNUT, "upsc", "--tls", "--pin", pin, where, "ups.load"], env=st.env)
        out["required_tls_upsc"] = tls.stdout + tls.stderr
        out["log_all"] = _offered(st)
    finally:
        st.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
