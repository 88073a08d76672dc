"""Test cards for the virtual terminal: the keys and certificates of a test PBOC card."""
