"""upsd, the attachment daemon: listener, sessions, access control, UPS store."""
