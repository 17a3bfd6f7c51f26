"""upsmon embedded in another program (what ``pnut demo`` may use): demo mode."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pnut.monitor import Notification, Options, parse_upsmon_conf, run
from support import Ups, stack


def test_run_in_process_demo_mode_prints_instead_of_shutting_down(tmp_path: Path) -> None:
    marker = tmp_path / "would-have-shut-down"
    printed: list[str] = []
    seen: list[Notification] = []
    with stack([Ups("u", "ups.status: OL\n", extra={"pollinterval": "1"})],
               upsd="pnut", driver="pnut") as st:
        conf = parse_upsmon_conf(
            f'MONITOR u@127.0.0.1:{st.port} 1 admin "s3cret pw" primary\n'
            f'SHUTDOWNCMD "touch {marker}"\nPOWERDOWNFLAG {tmp_path}/flag\n'
            "POLLFREQ 1\nPOLLFREQALERT 1\nFINALDELAY 0\n")

        def power_fails() -> None:
            time.sleep(1.5)
            st.talk(['USERNAME admin', 'PASSWORD "s3cret pw"', 'SET VAR u ups.status "OB LB"'])

        threading.Thread(target=power_fails, daemon=True).start()
        rc = run(conf, options=Options(demo=True, on_event=seen.append, print_fn=printed.append))
        assert rc == 0
        assert st.talk(["GET VAR u ups.status"]) == ['VAR u ups.status "FSD OB LB"']
    assert not marker.exists()
    assert printed == [f"upsmon (demo): would now run SHUTDOWNCMD: touch {marker}"]
    assert [n.type.value for n in seen] == ["ONBATT", "LOWBATT", "SHUTDOWN"]
    assert seen[0].message == f"UPS u@127.0.0.1:{st.port} on battery"
    assert (tmp_path / "flag").read_bytes() == b"upsmon-shutdown-file"
