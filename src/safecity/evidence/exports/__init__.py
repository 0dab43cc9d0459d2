"""Evidence exports: a case's chosen items gathered, redacted after review, signed into a package."""
