"""Alerts: what an operator must look at, raised by cameras, analytics and other systems."""
