"""Identity verification by CNIC (a NADRA-like service)."""
