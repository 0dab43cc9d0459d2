"""Video synopsis and activity heatmaps: a camera's period condensed into a short video, and where things moved."""
