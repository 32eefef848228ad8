"""Activities: calls, emails, meetings, notes and messages, the communication record."""
