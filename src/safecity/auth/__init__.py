"""Accounts and access: users, roles and permissions, district scope, sessions, MFA and API tokens."""
