"""upsmon and upssched: the power-state machine and notifications."""
