"""snmp-ups: NUT's SNMP driver on pysnmp (client, MIB tables, NUT's walk)."""
