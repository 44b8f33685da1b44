"""Users, organisations (cooperative / buyer / office), login sessions, API tokens, verification."""
