"""Agencies, their units and dispatch: positions, unit recommendation, assignment and acknowledgement."""
