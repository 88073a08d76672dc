"""Bearers to the acquirer host: frames, dial-up, GPRS, Ethernet."""
