"""Evidence: cases, their chain of custody, signed packages anyone can verify, and redaction of bystanders."""
