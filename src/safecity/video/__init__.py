"""Video: stream ingest, recording, retention, live view, playback and clip export."""
