"""Write the synthetic fixtures (vendors without a recorded descriptor in nut-ddl).

Usage: ``python tests/usbhid/emu/synth.py tests/fixtures/usb``

Each fixture is one report per field: the report descriptor is built here
from the HID paths NUT's subdriver for that vendor maps, and the values are
the ones the vendor's nut-ddl dump shows (tests/fixtures/ddl).  They test
that pnut and NUT read the *same* bytes the same way - including the
vendor fixes (CyberPower's output-voltage limits and 2/3 battery scale,
Tripp Lite's 0.1 battery scale) - not what a real unit's descriptor looks
like; the README says so.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from pnut.driver.usbhid.subdrivers import SUBDRIVERS

VOLT = 0x00F0D121


@dataclass
class F:
    path: str
    value: int
    size: int = 16
    logmin: int = 0
    logmax: int = 0xFFFF
    unit: int = 0
    exp: int = 0
    inputs: bool = False  # also an Input item (interrupt reports)
    rid: int = 0  # report ID; 0 = next free one


def _item(tag: int, value: int, signed: bool = False) -> bytes:
    if value == 0:
        return bytes([tag | 1, 0])
    for n, code in ((1, 1), (2, 2), (4, 3)):
        lo, hi = (-(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1) if signed else (0, (1 << 8 * n) - 1)
        if lo <= value <= hi:
            return bytes([tag | code]) + value.to_bytes(n, "little", signed=signed)
    raise ValueError(value)


def build(key: str, fields: list[F]) -> tuple[bytes, dict[str, str]]:
    sub = next(s for s in SUBDRIVERS if s.key == key)
    desc = bytearray()
    reports: dict[str, str] = {}
    fixed = {f.rid for f in fields if f.rid}
    free = (n for n in range(1, 255) if n not in fixed)
    for fld in fields:
        rid = fld.rid or next(free)
        nodes = sub.string_to_path(fld.path)
        assert nodes is not None, fld.path
        opened = 0
        i = 0
        while i < len(nodes) - 1:
            node = nodes[i]
            ctype = 0x01 if i == 0 else 0x00
            if i + 1 < len(nodes) - 1 and nodes[i + 1] & 0xFFFF0000 == 0x00FF0000:
                ctype = 0x80 | (nodes[i + 1] & 0x7F)
                i += 1
            desc += _item(0x04, node >> 16) + _item(0x08, node & 0xFFFF) + _item(0xA0, ctype)
            opened += 1
            i += 1
        leaf = nodes[-1]
        desc += _item(0x84, rid) + _item(0x74, fld.size) + _item(0x94, 1)
        desc += _item(0x14, fld.logmin, True) + _item(0x24, fld.logmax, True)
        desc += _item(0x64, fld.unit) + _item(0x54, fld.exp & 0x0F)
        desc += _item(0x04, leaf >> 16) + _item(0x08, leaf & 0xFFFF) + bytes([0xB1, 0x02])
        if fld.inputs:
            desc += _item(0x08, leaf & 0xFFFF) + bytes([0x81, 0x02])
        desc += bytes([0xC0]) * opened
        nbytes = (fld.size + 7) // 8
        raw = fld.value & ((1 << (8 * nbytes)) - 1)
        reports[str(rid)] = (bytes([rid]) + raw.to_bytes(nbytes, "little")).hex()
    return bytes(desc), reports


def fixture(key: str, vid: int, pid: int, strings: dict[str, str], fields: list[F],
            source: str) -> dict[str, object]:
    desc, reports = build(key, fields)
    return {"vendorid": f"{vid:04x}", "productid": f"{pid:04x}", "bcddevice": "0100",
            "strings": strings, "report_descriptor": desc.hex(), "feature": reports,
            "synthetic": source}


def _bool(path: str, on: bool) -> F:
    return F(path, int(on), size=8, logmax=1, inputs=True)


CPS = fixture("cps", 0x0764, 0x0501, {
    "1": "CPS", "2": "CP1500PFCLCD", "3": "000000000000", "4": "PbAcid", "5": "CPS"}, [
    F("UPS.PowerSummary.iDeviceChemistry", 4, 8, 0, 255),
    F("UPS.PowerSummary.iOEMInformation", 5, 8, 0, 255),
    F("UPS.PowerSummary.WarningCapacityLimit", 20, 8, 0, 100),
    F("UPS.PowerSummary.RemainingCapacityLimit", 10, 8, 0, 100),
    F("UPS.PowerSummary.RemainingCapacity", 100, 8, 0, 100, inputs=True),
    F("UPS.PowerSummary.RunTimeToEmpty", 1530, inputs=True),
    F("UPS.PowerSummary.RemainingTimeLimit", 300),
    F("UPS.PowerSummary.ConfigVoltage", 24, 8, 0, 255, VOLT, 7),
    # 36 V read for a 24 V battery: the 1.5x error CyberPower 0501 units make.
    F("UPS.PowerSummary.Voltage", 36, 8, 0, 255, VOLT, 7),
    F("UPS.Output.PercentLoad", 25, 8, 0, 100),
    F("UPS.PowerSummary.AudibleAlarmControl", 2, 8, 1, 3),
    F("UPS.Output.Test", 1, 8, 0, 7),
    F("UPS.Output.ConfigActivePower", 900),
    F("UPS.Output.DelayBeforeStartup", -60, 16, -1, 0x7FFF),
    F("UPS.Output.DelayBeforeShutdown", -60, 16, -1, 0x7FFF),
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.Charging", False),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", False),
    _bool("UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit", False),
    _bool("UPS.PowerSummary.PresentStatus.FullyCharged", True),
    F("UPS.Input.ConfigVoltage", 120, 8, 0, 255, VOLT, 7),
    F("UPS.Input.Voltage", 116, 16, 0, 0x1FF, VOLT, 7, rid=15),
    F("UPS.Input.LowVoltageTransfer", 88, 8, 0, 255, VOLT, 7),
    # NUT #439: the output voltage declared with the high-transfer limits (report 16 and 18).
    F("UPS.Input.HighVoltageTransfer", 139, 16, 130, 150, VOLT, 7, rid=16),
    F("UPS.Output.ConfigVoltage", 120, 8, 0, 255, VOLT, 7),
    F("UPS.Output.Voltage", 120, 16, 130, 150, VOLT, 7, rid=18),
], "Cyber_Power_Systems__CP1500PFCLCD__usbhid-ups__2.7.4__01.dev")

EATON = fixture("mge", 0x0463, 0xFFFF, {
    "1": "EATON", "2": "5PX", "3": "G000000000", "4": "PbAc", "5": "2000"}, [
    F("UPS.PowerSummary.iModel", 5, 8, 0, 255),
    F("UPS.PowerSummary.RemainingCapacity", 100, 8, 0, 100, inputs=True),
    F("UPS.PowerSummary.RemainingCapacityLimit", 20, 8, 0, 100),
    F("UPS.PowerSummary.RunTimeToEmpty", 2060, 32, 0, 0x7FFFFFFF, inputs=True),
    F("UPS.PowerSummary.RemainingTimeLimit", 150),
    F("UPS.PowerSummary.iDeviceChemistry", 4, 8, 0, 255),
    F("UPS.BatterySystem.Voltage", 545, 16, 0, 0x7FFF, VOLT, 6),
    F("UPS.BatterySystem.ConfigVoltage", 48, 8, 0, 255, VOLT, 7),
    F("UPS.PowerSummary.PercentLoad", 8, 8, 0, 200),
    F("UPS.PowerConverter.Output.ApparentPower", 166),
    F("UPS.PowerConverter.Output.ActivePower", 124),
    F("UPS.Flow.[4].ConfigActivePower", 1800),
    F("UPS.PowerSummary.DelayBeforeStartup", -1, 32, -1, 0x7FFFFFFF),
    F("UPS.PowerSummary.DelayBeforeShutdown", -1, 32, -1, 0x7FFFFFFF),
    F("UPS.BatterySystem.Battery.Test", 1, 8, 0, 7),
    F("UPS.PowerConverter.Input.[1].Voltage", 2300, 16, 0, 0x7FFF, VOLT, 6),
    F("UPS.PowerConverter.Input.[1].Frequency", 500, 16, 0, 0x7FFF, 0x0000F001, -1),
    F("UPS.Flow.[1].ConfigVoltage", 230, 16, 0, 0x7FFF, VOLT, 7),
    F("UPS.PowerConverter.Output.LowVoltageTransfer", 160, 16, 0, 0x7FFF, VOLT, 7),
    F("UPS.PowerConverter.Output.HighVoltageTransfer", 294, 16, 0, 0x7FFF, VOLT, 7),
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.Charging", True),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", False),
    _bool("UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit", False),
    _bool("UPS.PowerSummary.PresentStatus.NeedReplacement", False),
], "Eaton__5PX_2000__usbhid-ups__2.7.4__01.dev")

EATON_5P = fixture("mge", 0x0463, 0xFFFF, {
    "1": "EATON", "2": "Eaton 5P", "3": "G111111111", "4": "PbAc", "5": "1550"}, [
    F("UPS.PowerSummary.iModel", 5, 8, 0, 255),
    F("UPS.PowerSummary.RemainingCapacity", 97, 8, 0, 100, inputs=True),
    F("UPS.PowerSummary.RunTimeToEmpty", 1400, 32, 0, 0x7FFFFFFF, inputs=True),
    F("UPS.PowerSummary.Voltage", 272, 16, 0, 0x7FFF, VOLT, 6),
    F("UPS.PowerSummary.ConfigVoltage", 24, 8, 0, 255, VOLT, 7),
    F("UPS.PowerSummary.PercentLoad", 20, 8, 0, 200),
    F("UPS.PowerSummary.Time", 1700000000, 32, 0, 0x7FFFFFFF),
    F("UPS.BatterySystem.Charger.ABMEnable", 1, 8, 0, 1),
    F("UPS.BatterySystem.Charger.Mode", 3, 8, 0, 7),
    F("UPS.PowerConverter.ConverterType", 1, 8, 0, 5),
    F("UPS.Flow.[4].ConfigVoltage", 230, 16, 0, 0x7FFF, VOLT, 7),
    F("UPS.Flow.[4].ConfigApparentPower", 1550),
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.Charging", True),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", False),
], "none: Eaton 5P 1550 values chosen by pnut (ABM floating)")

POWERCOM = fixture("powercom", 0x0D9F, 0x00A4, {
    "1": "POWERCOM Co.,LTD", "2": "WOW-500U", "3": "3A4-0000-0001", "4": "PbAc"}, [
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.BatteryPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit", False),
    _bool("UPS.PowerSummary.PresentStatus.Charging", True),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", False),
    _bool("UPS.PowerSummary.PresentStatus.NeedReplacement", False),
    F("UPS.PowerSummary.RemainingCapacity", 100, 8, 0, 100, inputs=True),
    F("UPS.PowerSummary.RunTimeToEmpty", 900),
    F("UPS.PowerSummary.iDeviceChemistry", 4, 8, 0, 255),
    F("UPS.PowerSummary.AudibleAlarmControl", 1, 8, 0, 2),
    F("UPS.Output.PercentLoad", 15, 8, 0, 100),
    F("UPS.Battery.Test", 1, 8, 0, 7),
    F("UPS.PowerSummary.DelayBeforeStartup", 0, 16, 0, 0xFFFF),
    F("UPS.PowerSummary.DelayBeforeShutdown", 0, 16, 0, 0xFFFF),
    F("UPS.Input.Voltage", 229, 16, 0, 0x1FF, VOLT, 7),
    F("UPS.Input.ConfigVoltage", 230, 16, 0, 0x1FF, VOLT, 7),
    F("UPS.Input.Frequency", 500, 16, 0, 0x7FFF, 0x0000F001, -1),
    F("UPS.Output.Voltage", 230, 16, 0, 0x1FF, VOLT, 7),
], "none: PowerCOM WOW-500U values chosen by pnut")

BELKIN = fixture("belkin", 0x050D, 0x0980, {
    "1": "  Belkin", "2": "F6C1500-TW-RK", "3": "BLK0000001", "4": "PbAc"}, [
    F("UPS.BELKINBatterySystem.BELKINCharge", 88, 8, 0, 100),
    F("UPS.PowerSummary.RunTimeToEmpty", 1260),
    F("UPS.PowerSummary.iDeviceChemistry", 4, 8, 0, 255),
    F("UPS.BELKINBatterySystem.BELKINVoltage", 271),
    F("UPS.BELKINConfig.BELKINConfigBatteryVoltage", 24, 8, 0, 255),
    F("UPS.BELKINPowerState.BELKINInput.BELKINFrequency", 600),
    F("UPS.BELKINPowerState.BELKINInput.BELKINVoltage", 1185),
    F("UPS.BELKINPowerState.BELKINOutput.BELKINVoltage", 1190),
    F("UPS.BELKINDevice.BELKINVoltageSensitivity", 1, 8, 0, 2),
    F("UPS.BELKINDevice.BELKINUPSType", 0x52, 8, 0, 255),
    F("UPS.BELKINConfig.BELKINHighVoltageTransfer", 140),
    F("UPS.BELKINConfig.BELKINLowVoltageTransfer", 97),
    F("UPS.BELKINControls.BELKINAudibleAlarmControl", 2, 8, 1, 3),
    F("UPS.BELKINControls.BELKINTest", 0, 8, 0, 7),
    F("UPS.BELKINControls.BELKINDelayBeforeShutdown", -1, 16, -1, 0x7FFF),
    F("UPS.BELKINPowerState.BELKINOutput.BELKINPercentLoad", 33, 8, 0, 200),
    # PowerStatus bits: 0x0001 on battery, 0x0010 overload; BatteryStatus 0x0004 low.
    F("UPS.BELKINStatus.BELKINPowerStatus", 0x0011, 16, 0, 0xFFFF),
    F("UPS.BELKINStatus.BELKINBatteryStatus", 0x0004, 16, 0, 0xFFFF),
], "none: Belkin F6C1500 values chosen by pnut (on battery, overloaded, battery low)")

TRIPPLITE = fixture("tripplite", 0x09AE, 0x2009, {
    "1": "Tripp Lite", "2": "TRIPP LITE SMART1000LCD", "3": "2341AVHSM123456", "4": "PbAc"}, [
    F("UPS.PowerSummary.iDeviceChemistry", 4, 8, 0, 255),
    F("UPS.PowerSummary.RemainingCapacity", 100, 8, 0, 100, inputs=True),
    F("UPS.PowerSummary.RunTimeToEmpty", 3005, inputs=True),
    # Raw 137 with the 0.1 scale NUT applies to this product ID: 13.7 V.
    F("UPS.PowerSummary.RemainingCapacityLimit", 10, 8, 0, 100),
    F("UPS.BatterySystem.Battery.Voltage", 137, 16, 0, 0xFFFF, VOLT, 7),
    F("UPS.BatterySystem.Battery.ConfigVoltage", 12, 8, 0, 255, VOLT, 7),
    F("UPS.PowerSummary.Input.Voltage", 1198, 16, 0, 0xFFFF, VOLT, 6),
    F("UPS.PowerSummary.Input.ConfigVoltage", 120, 8, 0, 255, VOLT, 7),
    F("UPS.PowerConverter.Input.Frequency", 600, 16, 0, 0xFFFF, 0x0000F001, -1),
    F("UPS.OutletSystem.Outlet.PercentLoad", 18, 8, 0, 100),
    F("UPS.OutletSystem.Outlet.DelayBeforeShutdown", 0, 16, -1, 0x7FFF),
    F("UPS.PowerConverter.Output.Voltage", 1198, 16, 0, 0xFFFF, VOLT, 6),
    F("UPS.PowerSummary.AudibleAlarmControl", 2, 8, 1, 3),
    F("UPS.BatterySystem.Test", 6, 8, 0, 7),
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", False),
    _bool("UPS.PowerSummary.PresentStatus.Charging", False),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", True),
    _bool("UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit", False),
], "none: Tripp Lite SMART1000LCD values chosen by pnut (OB DISCHRG)")


LEGRAND = fixture("legrand", 0x1CB0, 0x0038, {
    "1": "Legrand", "2": "KEOR SPX 1500", "3": "LGR0000001"}, [
    # Values the descriptor scales too far down (volts x 1e-7..1e-5: unit exponents
    # 0..2 where 7 means volts), which NUT's legrand_times* conversions multiply back.
    F("UPS.PowerConverter.Input.Voltage", 232, 16, 0, 0x7FFF, VOLT, 1),
    F("UPS.PowerConverter.Output.Voltage", 230, 16, 0, 0x7FFF, VOLT, 0),
    F("UPS.BatterySystem.Battery.Voltage", 27, 16, 0, 0x7FFF, VOLT, 2),
    F("UPS.BatterySystem.Battery.ConfigVoltage", 24, 8, 0, 255, VOLT, 7),
    F("UPS.PowerConverter.Output.HighVoltageTransfer", 27, 8, 0, 255),
    F("UPS.PowerConverter.Output.LowVoltageTransfer", 180, 8, 0, 255),
    F("UPS.Flow.ConfigVoltage", 230, 16, 0, 0x7FFF),
    F("UPS.Flow.ConfigApparentPower", 1500),
    F("UPS.PowerSummary.RemainingCapacity", 95, 8, 0, 100, inputs=True),
    F("UPS.PowerSummary.RunTimeToEmpty", 1320),
    F("UPS.PowerSummary.RemainingCapacityLimit", 20, 8, 0, 100),
    F("UPS.OutletSystem.Outlet.PercentLoad", 30, 8, 0, 100),
    F("UPS.OutletSystem.Outlet.DelayBeforeShutdown", -1, 16, -1, 0x7FFF),
    F("UPS.BatterySystem.Battery.Test", 1, 8, 0, 7),
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.Charging", True),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", False),
    _bool("UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit", False),
], "none: Legrand KEOR values chosen by pnut (the too-small exponents NUT's table fixes)")

OPENUPS = fixture("openups", 0x04D8, 0xD004, {
    "1": "Mini-Box.Com", "2": "OPEN-UPS", "3": "OPENUPS001", "4": "LiFePO4", "5": "2023"}, [
    F("UPS.PowerSummary.iSerialNumber", 3, 8, 0, 255),
    F("UPS.PowerSummary.iDeviceChemistry", 4, 8, 0, 255),
    F("UPS.PowerSummary.iOEMInformation", 5, 8, 0, 255),
    F("UPS.PowerSummary.Voltage", 1225, 16, 0, 0x7FFF, VOLT, 5),
    F("UPS.PowerSummary.Current", 150, 16, -0x7FFF, 0x7FFF, 0x00100001, -3),
    F("UPS.PowerSummary.DesignCapacity", 7, 8, 0, 255),
    F("UPS.PowerSummary.RemainingCapacity", 88, 8, 0, 100, inputs=True),
    F("UPS.PowerSummary.RemainingCapacityLimit", 10, 8, 0, 100),
    F("UPS.PowerSummary.RunTimeToEmpty", 3600),
    # 5 -> 500 for the thermistor table: between 20 and 25 degrees C
    F("UPS.PowerSummary.Temperature", 5, 16, 0, 0x7FFF),
    # raw readings the d004 scales turn into about 12 V and 1 A
    F("UPS.PowerSummary.Output.Voltage", 467, 16, 0, 0x7FFF, VOLT, 5),
    F("UPS.PowerSummary.Output.Current", 62, 16, 0, 0x7FFF, 0x00100001, -2),
    F("UPS.PowerSummary.Input.Voltage", 340, 16, 0, 0x7FFF, VOLT, 5),
    F("UPS.PowerSummary.Input.Current", 120, 16, 0, 0x7FFF, 0x00100001, -2),
    _bool("UPS.PowerSummary.PresentStatus.Good", True),
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.BatteryPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.Charging", True),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", False),
    _bool("UPS.PowerSummary.PresentStatus.Overload", False),
    _bool("UPS.PowerSummary.PresentStatus.BelowRemainingCapacityLimit", False),
], "none: openUPS (d004) values chosen by pnut (scaled readings, thermistor)")

DELTA = fixture("delta_ups", 0x05DD, 0x041B, {
    "1": "DELTA", "2": "Amplon R1K", "3": "DLT0000001", "4": "PbAc"}, [
    F("UPS.DeltaCustom.[1].DeltaUPSType", 0x13, 8, 0, 255),
    F("UPS.DeltaCustom.[1].DeltaConfigSensitivity", 1, 8, 0, 2),
    F("UPS.DeltaCustom.[1].DeltaConfigStartPowerRestore", 1, 8, 0, 1),
    F("UPS.OutletSystem.Outlet.DeltaOutputSource", 4, 8, 0, 8),
    F("UPS.PowerSummary.Input.ConfigVoltage", 230, 16, 0, 0x7FFF),
    F("UPS.PowerConverter.Input.Voltage", 2289, 16, 0, 0x7FFF, VOLT, 6),
    F("UPS.PowerConverter.Input.Frequency", 499, 16, 0, 0x7FFF, 0x0000F001, -1),
    F("UPS.PowerConverter.Output.Voltage", 2300, 16, 0, 0x7FFF, VOLT, 6),
    F("UPS.PowerConverter.Output.Frequency", 500, 16, 0, 0x7FFF, 0x0000F001, -1),
    F("UPS.BatterySystem.Battery.Voltage", 273, 16, 0, 0x7FFF, VOLT, 6),
    F("UPS.BatterySystem.Battery.ConfigVoltage", 24, 8, 0, 255),
    F("UPS.PowerSummary.RemainingCapacity", 100, 8, 0, 100, inputs=True),
    F("UPS.PowerSummary.RunTimeToEmpty", 1800),
    F("UPS.PowerSummary.iDeviceChemistry", 4, 8, 0, 255),
    F("UPS.Flow.ConfigVoltage", 230, 16, 0, 0x7FFF),
    F("UPS.Flow.ConfigFrequency", 50, 8, 0, 255),
    F("UPS.Flow.ConfigApparentPower", 1000),
    F("UPS.OutletSystem.Outlet.PercentLoad", 17, 8, 0, 100),
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.Charging", False),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", False),
], "none: Delta Amplon values chosen by pnut (UPS type code 3: offline, boosting)")


def _ip(*octets: int) -> int:
    return int.from_bytes(bytes(octets), "little")


EVER = fixture("ever", 0x2E51, 0xFFFF, {
    "1": "EVER", "2": "POWERLINE RT 2000", "3": "EVR0000001"}, [
    F("UPS.EVER1.EVER13", 0x1203, 16, 0, 0xFFFF),  # firmware v1.2b03
    F("UPS.EVER1.EVER15", 0x0201, 16, 0, 0xFFFF),  # hardware rev.Bv01
    # whole reports NUT reads by their fixed IDs: network card addresses and counters
    F("UPS.EVER1.EVER72", _ip(0x00, 0x1A, 0x2B, 0x3C), 32, 0, 0x7FFFFFFF, rid=210),
    F("UPS.EVER1.EVER73", _ip(192, 168, 1, 20), 32, 0, 0x7FFFFFFF, rid=211),
    F("UPS.EVER1.EVER93", _ip(192, 168, 1, 77), 32, 0, 0x7FFFFFFF, rid=230),
    F("UPS.EVER1.EVER94", _ip(255, 255, 255, 0), 32, 0, 0x7FFFFFFF, rid=231),
    F("UPS.EVER1.EVER95", _ip(192, 168, 1, 1), 32, 0, 0x7FFFFFFF, rid=232),
    F("UPS.EVER1.EVER77", 123456, 32, 0, 0x7FFFFFFF, rid=215),
    F("UPS.EVER1.EVER78", 654321, 32, 0, 0x7FFFFFFF, rid=216),
    F("UPS.EVER1.EVER79", 3, 32, 0, 0x7FFFFFFF, rid=217),
    F("UPS.EVER1.EVER80", 0, 32, 0, 0x7FFFFFFF, rid=218),
    F("UPS.EVER1.EVER97.EVER98", 4, 8, 0, 255, rid=74),  # work mode: ONLINE
    F("UPS.EVER1.EVER97.EVER102", 1, 8, 0, 1, rid=77),
    F("UPS.EVER1.EVER18.EVER28", 0x0044, 16, 0, 0xFFFF, rid=75),  # BOOST CHARGING
    F("UPS.EVER1.EVER32.EVER33", 0x0000, 16, 0, 0xFFFF, rid=76),
    F("UPS.PowerSummary.RemainingCapacity", 100, 8, 0, 100),
    F("UPS.PowerSummary.RunTimeToEmpty", 2400),
    F("UPS.PowerSummary.Voltage", 81, 16, 0, 0x7FFF),
    F("UPS.PowerConverter.Input.Voltage", 229, 16, 0, 0x7FFF),
    F("UPS.PowerConverter.Output.Voltage", 230, 16, 0, 0x7FFF),
    F("UPS.PowerConverter.Output.PercentLoad", 12, 8, 0, 100),
    F("UPS.Flow.ConfigApparentPower", 2000),
    _bool("UPS.PowerSummary.PresentStatus.ACPresent", True),
    _bool("UPS.PowerSummary.PresentStatus.Discharging", False),
], "none: Ever POWERLINE values chosen by pnut (network card reports at NUT's fixed IDs)")


#: Megatec/Q1 answers of a 230 V line-interactive UPS on mains (NUT's Megatec protocol doc).
MEGATEC = {
    "Q1\r": "(231.2 231.2 230.8 021 50.1 13.6 26.0 00001001\r",
    "F\r": "#230.0 003 12.00 50.0\r",
    # "#" + company (15) + " " + model (10) + " " + version (10)
    "I\r": "#" + "PNUTTEST".ljust(15) + " " + "Q1USB".ljust(10) + " " + "V1.0".ljust(10) + "\r",
}


def qx_fixture(sub: str, vid: int, pid: int, strings: dict[str, str]) -> dict[str, object]:
    # Any HID-class report descriptor will do: nutdrv_qx never reads it.
    desc = bytes([0x06, 0xA0, 0xFF, 0x09, 0x01, 0xA1, 0x01, 0x09, 0x01, 0x15, 0x00, 0x26,
                  0xFF, 0x00, 0x75, 0x08, 0x95, 0x08, 0x81, 0x02, 0x09, 0x01, 0x91, 0x02, 0xC0])
    return {"vendorid": f"{vid:04x}", "productid": f"{pid:04x}", "bcddevice": "0100",
            "strings": strings, "iserial": 0 if sub == "krauler" else 3, "qx": sub,
            "answers": MEGATEC, "echo_unknown": True, "idle_zlp": sub == "phoenix",
            "report_descriptor": desc.hex(),
            "feature": {}, "synthetic": "Megatec answers written by pnut"}


QX = {
    "qx-cypress.json": qx_fixture("cypress", 0x0665, 0x5161, {
        "1": "INNO TECH", "2": "USB to Serial", "3": "20100826"}),
    "qx-phoenix.json": qx_fixture("phoenix", 0x06DA, 0x0601, {
        "1": "Online", "2": "USB UPS", "3": "A0000001"}),
    "qx-ippon.json": qx_fixture("ippon", 0x06DA, 0x0003, {
        "1": "Mustek", "2": "PowerMust", "3": "0000001"}),
    "qx-krauler.json": qx_fixture("krauler", 0x0001, 0x0000, {
        "1": "KRAULER", "2": "UP-M500VA"}),
}


def main() -> int:
    out = Path(sys.argv[1])
    for name, doc in (("cps-cp1500pfclcd-synthetic.json", CPS),
                      ("eaton-5px2000-synthetic.json", EATON),
                      ("eaton-5p1550-synthetic.json", EATON_5P),
                      ("powercom-wow500u-synthetic.json", POWERCOM),
                      ("belkin-f6c1500-synthetic.json", BELKIN),
                      ("tripplite-smart1000lcd-synthetic.json", TRIPPLITE),
                      ("legrand-keor-synthetic.json", LEGRAND),
                      ("openups-d004-synthetic.json", OPENUPS),
                      ("delta-amplon-synthetic.json", DELTA),
                      ("ever-powerline-synthetic.json", EVER)):
        (out / name).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", "utf-8")
    for name, doc in QX.items():
        (out / name).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
