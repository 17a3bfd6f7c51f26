"""apcsmart: APC's Smart protocol (serial Smart-UPS, Matrix-UPS, Back-UPS Pro).

:mod:`.tables` holds the data, :mod:`.link` the serial line, :mod:`.engine`
the protocol logic; the driver is :mod:`pnut.driver.drivers.apcsmart`.
"""
