"""Live face matching's leads: the faces seen, the matches and the examiners' decisions."""
