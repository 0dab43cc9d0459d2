"""Recorded video on the web: the timeline, HLS playback, evidence locks and clip export."""
