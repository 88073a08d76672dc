"""Power-safe flash: records, the transaction journal, parameters, packets."""
