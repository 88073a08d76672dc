"""The terminal application: storage, keys, crypto, ISO 8583, transactions, UI."""
