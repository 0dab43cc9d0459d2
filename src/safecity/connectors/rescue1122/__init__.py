"""Rescue 1122: incidents shared both ways with the emergency service."""
