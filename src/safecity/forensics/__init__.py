"""Digital forensics: what the cameras saw, searched across cameras, strung into routes and synopses."""
