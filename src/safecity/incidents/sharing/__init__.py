"""Incidents shared with other agencies."""
