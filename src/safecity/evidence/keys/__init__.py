"""The deployment's evidence-signing keys: one active Ed25519 key, rotatable, retired keys kept to verify."""
