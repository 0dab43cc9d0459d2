"""Face recognition under rules: watchlists, enrolments, authorisations, published error rates."""
