"""``pnut web``'s command line: servers from a file, passwords never shown, one-line errors."""

from __future__ import annotations

from pathlib import Path

from websupport import Web

from support import PNUT, Stack, Ups, free_port, run, wait_for


def test_servers_file_keeps_password_out_of_output(tmp_path: Path) -> None:
    port = free_port()
    servers = tmp_path / "servers"
    servers.write_text(f"# upsd on this host\nnut://admin:hunter2secret@127.0.0.1:{port}\n")
    servers.chmod(0o600)
    with Web([], "--servers-file", str(servers)) as web:
        listing = web.json("/api/v1/ups")
        assert [s["server"] for s in listing["servers"]] == [f"127.0.0.1:{port}"]
        wait_for(lambda: web.json("/api/v1/ups")["servers"][0]["error"] != "not polled yet")
        text = web.log.read_text()
        assert f"nut://admin@127.0.0.1:{port}" in text and "hunter2secret" not in text
        assert b"hunter2secret" not in web.get("/api/v1/ups")[1]


def test_bad_arguments_are_one_line() -> None:
    for args, word in ((["--server", "http://x"], "nut://"),
                       (["--server", "a:1", "--server", "nut://a:1"], "twice"),
                       (["--listen", "nowhere:99999"], "port"),
                       (["--servers-file", "/nonexistent/servers"], "/nonexistent/servers")):
        done = run([*PNUT, "web", *args], timeout=30)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and word in done.stderr, done.stderr
        assert done.stderr.startswith("pnut web: ")


def test_follows_an_upsd_that_requires_tls(tmp_path: Path) -> None:
    """REQUIRE_TLS upsd: pnut web says STARTTLS and checks the certificate (PNUT_TLS_CAFILE)."""
    from pnut.tls.certs import init_pki

    cert = init_pki(tmp_path / "pki", ["127.0.0.1"]).cert
    ups = Ups("dummy", "ups.status: OB\nbattery.charge: 12\n")
    with Stack([ups], upsd_conf=f"CERTFILE {cert}\nREQUIRE_TLS yes\n") as st:
        st.start_driver(ups, "pnut")
        st.start_upsd("pnut")
        env = {"PNUT_TLS_CAFILE": str(tmp_path / "pki" / "ca.pem")}
        with Web([f"nut://127.0.0.1:{st.port}"], env=env) as web:
            ups_json = wait_for(lambda: [u for u in web.json("/api/v1/ups")["upses"] if u["up"]])
            assert ups_json[0]["variables"]["battery.charge"] == "12"
            assert ups_json[0]["status"] == ["OB"]
