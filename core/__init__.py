"""Shared foundations of Cairn: settings, domain types, storage adapters and model loading."""
