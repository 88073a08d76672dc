"""The transaction engine: ISO 8583, messages, reversal, settlement, slips."""
