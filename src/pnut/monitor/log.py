"""Logging for upsmon and upssched: syslog always, stderr in the foreground.

NUT's daemons log through syslog and, until they go to the background,
also to stderr; notifications are logged at NOTICE, a level Python's
logging lacks, so it is added here.
"""

from __future__ import annotations

import logging
import sys
import syslog

NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")

_PRIORITIES = {
    logging.DEBUG: syslog.LOG_DEBUG,
    logging.INFO: syslog.LOG_INFO,
    NOTICE: syslog.LOG_NOTICE,
    logging.WARNING: syslog.LOG_WARNING,
    logging.ERROR: syslog.LOG_ERR,
    logging.CRITICAL: syslog.LOG_CRIT,
}


class SyslogHandler(logging.Handler):
    """Writes through libc's syslog(3), which copes with a missing /dev/log."""

    def __init__(self, ident: str) -> None:
        super().__init__()
        syslog.openlog(ident, syslog.LOG_PID, syslog.LOG_DAEMON)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            prio = syslog.LOG_DEBUG
            for level, priority in sorted(_PRIORITIES.items()):
                if record.levelno >= level:
                    prio = priority
            syslog.syslog(prio, self.format(record))
        except Exception:
            self.handleError(record)


def setup(ident: str, *, stderr: bool, debug: int = 0, use_syslog: bool = True) -> logging.Logger:
    """Configure the ``pnut.<ident>`` logger; ``debug`` is NUT's -D count."""
    logger = logging.getLogger(f"pnut.{ident}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG if debug > 0 else logging.INFO)
    if use_syslog:
        logger.addHandler(SyslogHandler(ident))
    if stderr:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    return logger
