"""Drivers: one file per chip or protocol; they take ready bus objects and never import app/."""
