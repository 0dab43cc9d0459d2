"""Events from cameras, analytics and systems: the durable event store and its bus consumer."""
