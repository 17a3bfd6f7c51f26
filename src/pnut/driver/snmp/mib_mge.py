"""NUT mge-mib.c (v2.8.0) as data: OIDs, NUT names, scaling, lookups.

Transcribed from networkupstools/nut drivers/mge-mib.c (GPL-2.0-or-later);
see :mod:`pnut.driver.snmp.mib` for what each column means.
"""

from __future__ import annotations

from pnut.driver.snmp.mib import (
    ABSENT,
    INPUT_1,
    INPUT_3,
    OK,
    OUTPUT_1,
    OUTPUT_3,
    RW,
    STATIC,
    STATUS_BATT,
    STATUS_PWR,
    STRING,
    TYPE_CMD,
    TYPE_INT,
    Entry,
    MibInfo,
)

MGE_LOWBATT_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'LB'),
    (2, ''),
    (0, None),
)
MGE_ONBATT_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'OB'),
    (2, 'OL'),
    (0, None),
)
MGE_BYPASS_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'BYPASS'),
    (2, ''),
    (0, None),
)
MGE_BOOST_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'BOOST'),
    (2, ''),
    (0, None),
)
MGE_TRIM_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'TRIM'),
    (2, ''),
    (0, None),
)
MGE_OVERLOAD_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'OVER'),
    (2, ''),
    (0, None),
)
MGE_REPLACEBATT_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'RB'),
    (2, ''),
    (0, None),
)
MGE_OUTPUT_UTIL_OFF_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'OFF'),
    (2, ''),
    (0, None),
)
MGE_TRANSFER_REASON_INFO: tuple[tuple[int, str | None], ...] = (
    (1, ''),
    (2, 'input voltage out of range'),
    (3, 'input frequency out of range'),
    (4, 'utility off'),
    (0, None),
)
MGE_TEST_RESULT_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'done and passed'),
    (2, 'done and warning'),
    (3, 'done and error'),
    (4, 'aborted'),
    (5, 'in progress'),
    (6, 'no test initiated'),
    (0, None),
)
MGE_BEEPER_STATUS_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'disabled'),
    (2, 'enabled'),
    (3, 'muted'),
    (0, None),
)
MGE_YES_NO_INFO: tuple[tuple[int, str | None], ...] = (
    (1, 'yes'),
    (2, 'no'),
    (0, None),
)
MGE_POWER_SOURCE_INFO: tuple[tuple[int, str | None], ...] = (
    (1, ''),
    (2, 'OFF'),
    (4, 'BYPASS'),
    (5, 'OB'),
    (6, 'BOOST'),
    (7, 'TRIM'),
    (0, None),
)
MGE_AMBIENT_DRYCONTACTS_INFO: tuple[tuple[int, str | None], ...] = (
    (-1, 'unknown'),
    (1, 'closed'),
    (2, 'opened'),
    (0, None),
)

MGE_MIB: tuple[Entry, ...] = (
    Entry('device.description', STRING | RW, 128.0, '.1.3.6.1.2.1.1.1.0', None, OK, None),
    Entry('device.contact', STRING | RW, 128.0, '.1.3.6.1.2.1.1.4.0', None, OK, None),
    Entry('device.location', STRING | RW, 128.0, '.1.3.6.1.2.1.1.6.0', None, OK, None),
    Entry('ups.mfr', STRING, 128.0, None, 'Eaton', STATIC | ABSENT | OK, None),
    Entry('ups.model', STRING, 128.0, '.1.3.6.1.4.1.705.1.1.1.0',
          'Generic SNMP UPS', STATIC | OK, None),
    Entry('ups.serial', STRING, 128.0, '.1.3.6.1.4.1.705.1.1.7.0', '', STATIC | OK, None),
    Entry('ups.firmware', STRING, 128.0, '.1.3.6.1.4.1.705.1.1.4.0', '', STATIC | OK, None),
    Entry('ups.firmware.aux', STRING, 128.0, '.1.3.6.1.4.1.705.1.12.12.0', '', STATIC | OK, None),
    Entry('ups.load', 0, 1.0, '.1.3.6.1.4.1.705.1.7.2.1.4.1', '', OUTPUT_1, None),
    Entry('ups.beeper.status', STRING, 128.0, '1.3.6.1.2.1.33.1.9.8.0',
          '', 0, MGE_BEEPER_STATUS_INFO),
    Entry('ups.L1.load', 0, 1.0, '.1.3.6.1.4.1.705.1.7.2.1.4.1', '', OUTPUT_3, None),
    Entry('ups.L2.load', 0, 1.0, '.1.3.6.1.4.1.705.1.7.2.1.4.2', '', OUTPUT_3, None),
    Entry('ups.L3.load', 0, 1.0, '.1.3.6.1.4.1.705.1.7.2.1.4.3', '', OUTPUT_3, None),
    Entry('ups.test.result', STRING, 128.0, '.1.3.6.1.2.1.33.1.7.3.0', '', 0, MGE_TEST_RESULT_INFO),
    Entry('ups.delay.shutdown', STRING | RW, 6.0, '1.3.6.1.2.1.33.1.8.2.0',
          '20', ABSENT | OK, None),
    Entry('ups.delay.start', STRING | RW, 6.0, '1.3.6.1.2.1.33.1.8.3.0', '30', ABSENT | OK, None),
    Entry('ups.timer.shutdown', 0, 1.0, '1.3.6.1.2.1.33.1.8.2.0', '', OK, None),
    Entry('ups.timer.start', 0, 1.0, '1.3.6.1.2.1.33.1.8.3.0', '', OK, None),
    Entry('ups.timer.reboot', 0, 1.0, '1.3.6.1.2.1.33.1.8.4.0', '', OK, None),
    Entry('ups.start.auto', RW, 1.0, '1.3.6.1.2.1.33.1.8.5.0', '', OK, MGE_YES_NO_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.5.11.0',
          '', OK | STATUS_BATT, MGE_REPLACEBATT_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.5.14.0',
          '', OK | STATUS_BATT, MGE_LOWBATT_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.5.16.0',
          '', OK | STATUS_BATT, MGE_LOWBATT_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.7.3.0',
          '', OK | STATUS_BATT, MGE_ONBATT_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.7.4.0',
          '', OK | STATUS_BATT, MGE_BYPASS_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.7.7.0',
          '', OK | STATUS_BATT, MGE_OUTPUT_UTIL_OFF_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.7.8.0',
          '', OK | STATUS_BATT, MGE_BOOST_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.7.10.0',
          '', OK | STATUS_BATT, MGE_OVERLOAD_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.7.12.0',
          '', OK | STATUS_BATT, MGE_TRIM_INFO),
    Entry('ups.status', STRING, 128.0, '.1.3.6.1.2.1.33.1.4.1.0',
          '', STATUS_PWR | OK, MGE_POWER_SOURCE_INFO),
    Entry('input.phases', 0, 1.0, '.1.3.6.1.4.1.705.1.6.1.0', '', 0, None),
    Entry('input.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.2.1', '', INPUT_1, None),
    Entry('input.L1-N.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.2.1', '', INPUT_3, None),
    Entry('input.L2-N.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.2.2', '', INPUT_3, None),
    Entry('input.L3-N.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.2.3', '', INPUT_3, None),
    Entry('input.frequency', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.3.1', '', INPUT_1, None),
    Entry('input.L1.frequency', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.3.1', '', INPUT_3, None),
    Entry('input.L2.frequency', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.3.2', '', INPUT_3, None),
    Entry('input.L3.frequency', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.3.3', '', INPUT_3, None),
    Entry('input.voltage.minimum', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.4.1', '', INPUT_1, None),
    Entry('input.L1-N.voltage.minimum', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.4.1', '', INPUT_3, None),
    Entry('input.L2-N.voltage.minimum', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.4.2', '', INPUT_3, None),
    Entry('input.L3-N.voltage.minimum', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.4.3', '', INPUT_3, None),
    Entry('input.voltage.maximum', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.5.1', '', INPUT_1, None),
    Entry('input.L1-N.voltage.maximum', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.5.1', '', INPUT_3, None),
    Entry('input.L2-N.voltage.maximum', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.5.2', '', INPUT_3, None),
    Entry('input.L3-N.voltage.maximum', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.5.3', '', INPUT_3, None),
    Entry('input.current', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.6.1', '', INPUT_1, None),
    Entry('input.L1.current', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.6.1', '', INPUT_3, None),
    Entry('input.L2.current', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.6.2', '', INPUT_3, None),
    Entry('input.L3.current', 0, 0.1, '.1.3.6.1.4.1.705.1.6.2.1.6.3', '', INPUT_3, None),
    Entry('input.transfer.reason', STRING, 128.0, '.1.3.6.1.4.1.705.1.6.4.0',
          '', OK, MGE_TRANSFER_REASON_INFO),
    Entry('output.phases', 0, 1.0, '.1.3.6.1.4.1.705.1.7.1.0', '', 0, None),
    Entry('output.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.2.1', '', OUTPUT_1, None),
    Entry('output.L1-N.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.2.1', '', OUTPUT_3, None),
    Entry('output.L2-N.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.2.2', '', OUTPUT_3, None),
    Entry('output.L3-N.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.2.3', '', OUTPUT_3, None),
    Entry('output.frequency', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.3.1', '', OUTPUT_1, None),
    Entry('output.L1.frequency', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.3.1', '', OUTPUT_3, None),
    Entry('output.L2.frequency', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.3.2', '', OUTPUT_3, None),
    Entry('output.L3.frequency', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.3.3', '', OUTPUT_3, None),
    Entry('output.current', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.5.1', '', OUTPUT_1, None),
    Entry('output.L1.current', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.5.1', '', OUTPUT_3, None),
    Entry('output.L2.current', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.5.2', '', OUTPUT_3, None),
    Entry('output.L3.current', 0, 0.1, '.1.3.6.1.4.1.705.1.7.2.1.5.3', '', OUTPUT_3, None),
    Entry('battery.charge', 0, 1.0, '.1.3.6.1.4.1.705.1.5.2.0', '', OK, None),
    Entry('battery.runtime', 0, 1.0, '.1.3.6.1.4.1.705.1.5.1.0', '', OK, None),
    Entry('battery.runtime.low', 0, 1.0, '.1.3.6.1.4.1.705.1.4.7.0', '', OK, None),
    Entry('battery.charge.low', STRING | RW, 2.0, '.1.3.6.1.4.1.705.1.4.8.0',
          '', TYPE_INT | OK, None),
    Entry('battery.voltage', 0, 0.1, '.1.3.6.1.4.1.705.1.5.5.0', '', OK, None),
    Entry('ambient.temperature', 0, 0.1, '.1.3.6.1.4.1.705.1.8.1.0', '', TYPE_INT | OK, None),
    Entry('ambient.humidity', 0, 0.1, '.1.3.6.1.4.1.705.1.8.2.0', '', TYPE_INT | OK, None),
    Entry('ambient.contacts.1.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.8.7.1.9.1',
          '', TYPE_INT | OK, MGE_AMBIENT_DRYCONTACTS_INFO),
    Entry('ambient.contacts.2.status', STRING, 128.0, '.1.3.6.1.4.1.705.1.8.7.1.10.1',
          '', TYPE_INT | OK, MGE_AMBIENT_DRYCONTACTS_INFO),
    Entry('outlet.id', 0, 1.0, None, '0', STATIC | ABSENT | OK, None),
    Entry('outlet.desc', RW | STRING, 20.0, None, 'Main Outlet', STATIC | ABSENT | OK, None),
    Entry('test.battery.start', 0, 1.0, '.1.3.6.1.4.1.705.1.10.4.0', '2', TYPE_CMD | OK, None),
    Entry('beeper.disable', 0, 1.0, '1.3.6.1.2.1.33.1.9.8.0', '1', TYPE_CMD, None),
    Entry('beeper.enable', 0, 1.0, '1.3.6.1.2.1.33.1.9.8.0', '2', TYPE_CMD, None),
    Entry('beeper.mute', 0, 1.0, '1.3.6.1.2.1.33.1.9.8.0', '3', TYPE_CMD, None),
    Entry('load.off.delay', 0, 1.0, '1.3.6.1.2.1.33.1.8.2.0', None, TYPE_CMD, None),
    Entry('load.on.delay', 0, 1.0, '1.3.6.1.2.1.33.1.8.3.0', None, TYPE_CMD, None),
)

MGE = MibInfo('mge', '0.55', None, '.1.3.6.1.4.1.705.1.1.1.0',
                  MGE_MIB, '.1.3.6.1.4.1.705.1')
