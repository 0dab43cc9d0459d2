"""The organisation: province, districts, police stations and sites."""
