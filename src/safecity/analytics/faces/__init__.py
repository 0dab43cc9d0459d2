"""Face engine: detection, alignment, a quality gate and embeddings (the `faces` domain uses it)."""
