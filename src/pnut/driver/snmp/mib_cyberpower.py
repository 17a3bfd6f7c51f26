"""NUT cyberpower-mib.c (v2.8.0) as data: OIDs, NUT names, scaling, lookups.

Transcribed from networkupstools/nut drivers/cyberpower-mib.c (GPL-2.0-or-later);
see :mod:`pnut.driver.snmp.mib` for what each column means.
"""

from __future__ import annotations

from pnut.driver.snmp.mib import (
    ABSENT,
    OK,
    RW,
    STATIC,
    STATUS_BATT,
    STATUS_CAL,
    STATUS_PWR,
    STATUS_RB,
    STRING,
    TYPE_CMD,
    TYPE_TIME,
    Entry,
    MibInfo,
)

CYBERPOWER_POWER_STATUS: tuple[tuple[int, str | None], ...] = (
    (1, 'NULL'),
    (2, 'OL'),
    (3, 'OB'),
    (4, 'OL BOOST'),
    (5, 'OFF'),
    (6, 'OFF'),
    (7, 'OL'),
    (8, 'OL'),
    (9, 'OL BYPASS'),
    (10, 'OL TRIM'),
    (11, 'OL OVER'),
    (0, None),
)
CYBERPOWER_BATTERY_STATUS: tuple[tuple[int, str | None], ...] = (
    (1, ''),
    (2, ''),
    (3, 'LB'),
    (0, None),
)
CYBERPOWER_CAL_STATUS: tuple[tuple[int, str | None], ...] = (
    (1, ''),
    (2, ''),
    (3, 'CAL'),
    (0, None),
)
CYBERPOWER_BATTREPL_STATUS: tuple[tuple[int, str | None], ...] = (
    (1, ''),
    (2, 'RB'),
    (0, None),
)

CYBERPOWER_MIB: tuple[Entry, ...] = (
    Entry('device.description', STRING | RW, 128.0, '.1.3.6.1.2.1.1.1.0', None, OK, None),
    Entry('device.contact', STRING | RW, 128.0, '.1.3.6.1.2.1.1.4.0', None, OK, None),
    Entry('device.location', STRING | RW, 128.0, '.1.3.6.1.2.1.1.6.0', None, OK, None),
    Entry('device.type', STRING, 128.0, None, 'ups', STATIC | ABSENT | OK, None),
    Entry('ups.mfr', STRING, 128.0, None, 'CYBERPOWER', STATIC | ABSENT | OK, None),
    Entry('ups.model', STRING, 128.0, '.1.3.6.1.4.1.3808.1.1.1.1.1.1.0',
          'CyberPower', STATIC, None),
    Entry('ups.serial', STRING, 128.0, '.1.3.6.1.4.1.3808.1.1.1.1.2.3.0', '', STATIC, None),
    Entry('ups.firmware', STRING, 128.0, '.1.3.6.1.4.1.3808.1.1.1.1.2.1.0', '', STATIC, None),
    Entry('ups.mfr.date', STRING, 128.0, '.1.3.6.1.4.1.3808.1.1.1.1.2.2.0', '', 0, None),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.3808.1.1.1.4.1.1.0',
          '', OK | STATUS_PWR, CYBERPOWER_POWER_STATUS),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.3808.1.1.1.2.1.1.0',
          '', OK | STATUS_BATT, CYBERPOWER_BATTERY_STATUS),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.3808.1.1.1.7.2.7.0',
          '', OK | STATUS_CAL, CYBERPOWER_CAL_STATUS),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.3808.1.1.1.2.2.5.0',
          '', OK | STATUS_RB, CYBERPOWER_BATTREPL_STATUS),
    Entry('ups.load', 0, 1.0, '.1.3.6.1.4.1.3808.1.1.1.4.2.3.0', '', 0, None),
    Entry('battery.runtime', 0, 1.0, '.1.3.6.1.4.1.3808.1.1.1.2.2.4.0', '', 0, None),
    Entry('battery.runtime.elapsed', 0, 1.0, '.1.3.6.1.4.1.3808.1.1.1.2.1.2.0', '', 0, None),
    Entry('battery.voltage', 0, 0.1, '.1.3.6.1.2.1.33.1.2.5.0', '', 0, None),
    Entry('battery.voltage', 0, 0.1, '.1.3.6.1.4.1.3808.1.1.1.2.2.2.0', '', 0, None),
    Entry('battery.voltage.nominal', 0, 1.0, '.1.3.6.1.4.1.3808.1.1.1.2.2.8.0', '', 0, None),
    Entry('battery.current', 0, 0.1, '.1.3.6.1.4.1.3808.1.1.1.4.2.4.0', '', 0, None),
    Entry('battery.current', 0, 0.1, '.1.3.6.1.4.1.3808.1.1.1.2.2.7.0', '', 0, None),
    Entry('battery.charge', 0, 1.0, '.1.3.6.1.4.1.3808.1.1.1.2.2.1.0', '', 0, None),
    Entry('battery.temperature', 0, 1.0, '.1.3.6.1.4.1.3808.1.1.1.2.2.3.0', '', 0, None),
    Entry('input.voltage', 0, 0.1, '.1.3.6.1.4.1.3808.1.1.1.3.2.1.0', '', 0, None),
    Entry('input.frequency', 0, 0.1, '.1.3.6.1.4.1.3808.1.1.1.3.2.4.0', '', 0, None),
    Entry('output.voltage', 0, 0.1, '.1.3.6.1.4.1.3808.1.1.1.4.2.1.0', '', 0, None),
    Entry('output.frequency', 0, 0.1, '.1.3.6.1.4.1.3808.1.1.1.4.2.2.0', '', 0, None),
    Entry('output.current', 0, 0.1, '.1.3.6.1.4.1.3808.1.1.1.4.2.4.0', '', 0, None),
    Entry('ups.delay.start', RW, 1.0, '.1.3.6.1.4.1.3808.1.1.1.5.2.9.0', '0', OK | TYPE_TIME, None),
    Entry('ups.delay.reboot', 0, 1.0, None, '0', OK | ABSENT, None),
    Entry('ups.delay.shutdown', RW, 1.0, '.1.3.6.1.4.1.3808.1.1.1.5.2.11.0',
          '60', OK | TYPE_TIME, None),
    Entry('load.off', 0, 2.0, '.1.3.6.1.4.1.3808.1.1.1.6.2.1.0', None, TYPE_CMD | OK, None),
    Entry('load.on', 0, 2.0, '.1.3.6.1.4.1.3808.1.1.1.6.2.6.0', None, TYPE_CMD | OK, None),
    Entry('shutdown.stayoff', 0, 3.0, '.1.3.6.1.4.1.3808.1.1.1.6.2.6.0', None, TYPE_CMD | OK, None),
    Entry('shutdown.return', 0, 3.0, '.1.3.6.1.4.1.3808.1.1.1.6.2.3.0', None, TYPE_CMD | OK, None),
    Entry('test.failure.start', 0, 2.0, '.1.3.6.1.4.1.3808.1.1.1.6.2.4.0',
          None, TYPE_CMD | OK, None),
    Entry('test.panel.start', 0, 2.0, '.1.3.6.1.4.1.3808.1.1.1.7.2.5.0', None, TYPE_CMD | OK, None),
    Entry('test.battery.start', 0, 2.0, '.1.3.6.1.4.1.3808.1.1.1.7.2.2.0',
          None, TYPE_CMD | OK, None),
    Entry('calibrate.start', 0, 2.0, '.1.3.6.1.4.1.3808.1.1.1.7.2.6.0', None, TYPE_CMD | OK, None),
    Entry('calibrate.stop', 0, 3.0, '.1.3.6.1.4.1.3808.1.1.1.7.2.6.0', None, TYPE_CMD | OK, None),
)

CYBERPOWER = MibInfo('cyberpower', '0.51', None, '.1.3.6.1.4.1.3808.1.1.1.1.1.1.0',
                  CYBERPOWER_MIB, '.1.3.6.1.4.1.3808.1.1.1')
