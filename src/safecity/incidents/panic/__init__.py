"""The citizen panic button (women's safety)."""
