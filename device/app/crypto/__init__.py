"""Cryptography: DES, 3DES, SM4, AES, MACs, PIN blocks, TR-31, sealing at rest."""
