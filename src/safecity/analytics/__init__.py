"""AI analytics: detectors, motion gating, tracking, rules drawn on cameras, and the per-camera pipeline."""
