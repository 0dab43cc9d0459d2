"""Video synopsis and activity heatmaps: a camera's period as a short video, and where things moved."""
