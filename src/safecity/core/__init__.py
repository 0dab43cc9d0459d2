"""Shared infrastructure: database, bus, errors, logging, crypto."""
