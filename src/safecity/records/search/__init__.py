"""One search over the records: names across spellings and scripts, CNIC, phone, FIR number, plate."""
