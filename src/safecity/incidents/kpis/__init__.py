"""Response-time KPIs: time to dispatch and to arrive."""
