"""Federation of district centres to a province centre."""
