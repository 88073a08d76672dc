"""Boards: pin maps and driver construction (ESP32 reference board, unix simulator)."""
