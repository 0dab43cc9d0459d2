"""Criminal records: persons, vehicles, FIRs, warrants, stolen vehicles, missing persons and their links."""
