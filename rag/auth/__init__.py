"""People and roles: accounts, password hashes, what each role may open, the audit log."""
