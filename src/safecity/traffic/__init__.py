"""Traffic: counts per location and lane, speeds, section control, road segments and congestion."""
