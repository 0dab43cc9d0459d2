"""Hotlists of stolen and wanted vehicles, matched against plate sightings, confirmed by an operator."""
