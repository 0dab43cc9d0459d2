"""The counter-terrorism schedule list (Fourth Schedule): who is listed, where, since when."""
