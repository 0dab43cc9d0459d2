"""Incidents of the Command and Control Centre: numbering, status lifecycle, SOPs, timeline, links."""
