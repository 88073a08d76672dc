"""EMV (PBOC 3.0) primitives of the chip kernel: BER-TLV, DOLs, offline data authentication.

`tlv` reads and builds the card's BER-TLV, `dol` builds the data a card's data object list
asks for, `oda` checks the card's certificates and signatures (docs/emv.md).
"""
