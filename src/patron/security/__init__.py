"""Users, teams, sessions, API keys, roles and permissions."""
