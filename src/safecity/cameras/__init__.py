"""The camera registry: police, departmental and commercial cameras, their streams and their owners."""
