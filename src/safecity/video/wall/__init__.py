"""The video wall: each user's layout of live tiles."""
