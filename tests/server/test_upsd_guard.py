"""AddressGuard (per-address limits) with a fake clock: the rules, exactly."""

from __future__ import annotations

from pnut.server.guard import AddressGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_connections_per_address_and_loopback_exemption() -> None:
    guard = AddressGuard(max_per_address=2)
    assert guard.connect("192.0.2.1") and guard.connect("192.0.2.1")
    assert not guard.connect("192.0.2.1")
    assert guard.connect("192.0.2.2")
    assert all(guard.connect("127.0.0.1") for _ in range(10))  # loopback: not limited
    assert all(guard.connect("::1") for _ in range(10))
    guard.disconnect("192.0.2.1")
    assert guard.connect("192.0.2.1")
    for _ in range(2):
        guard.disconnect("192.0.2.1")
    assert "192.0.2.1" not in guard.open  # no entry kept for a closed address
    strict = AddressGuard(max_per_address=1, limit_loopback=True)
    assert strict.connect("127.0.0.1") and not strict.connect("127.0.0.1")
    unlimited = AddressGuard(max_per_address=0)
    assert all(unlimited.connect("192.0.2.1") for _ in range(1000))


def test_failed_logins_block_for_the_window_and_refusals_do_not_extend_it() -> None:
    clock = Clock()
    guard = AddressGuard(max_failures=3, window=60.0, clock=clock)
    addr = "198.51.100.9"
    assert not guard.login_failed(addr)
    clock.now += 10
    assert not guard.login_failed(addr)
    assert not guard.login_blocked(addr)
    clock.now += 10
    assert guard.login_failed(addr)  # third within the minute: blocked from now
    assert guard.login_blocked(addr)
    assert not guard.login_blocked("198.51.100.10")  # others unaffected
    clock.now += 39.9
    assert guard.login_blocked(addr)  # 59.9 s after the first failure
    clock.now += 0.2
    assert not guard.login_blocked(addr)  # the oldest failure left the window
    assert guard.login_failed(addr)  # one more failure fills the window again
    guard.configure(256, 3, False)  # a reload forgets every failure
    assert not guard.login_blocked(addr)


def test_loopback_failures_are_not_counted_unless_limited() -> None:
    guard = AddressGuard(max_failures=1)
    assert not guard.login_failed("127.0.0.1")
    assert not guard.login_blocked("127.0.0.1")
    strict = AddressGuard(max_failures=1, limit_loopback=True)
    assert strict.login_failed("127.0.0.1") and strict.login_blocked("127.0.0.1")
    off = AddressGuard(max_failures=0)
    assert not off.login_failed("192.0.2.1") and not off.login_blocked("192.0.2.1")


def test_memory_is_bounded_and_stale_entries_purged() -> None:
    clock = Clock()
    guard = AddressGuard(max_failures=5, window=60.0, clock=clock)
    for i in range(200):
        for _ in range(50):
            guard.login_failed(f"10.0.{i // 256}.{i % 256}")
    assert all(len(times) == 5 for times in guard._failures.values())
    clock.now += 61
    guard.purge()
    assert not guard._failures
