"""Retrospective face search: the faces the cameras saw in a period and area, searched by a photo."""
