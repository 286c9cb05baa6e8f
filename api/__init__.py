"""User-facing surfaces: the HTTP API (routers and schemas) and the `cairn` command line."""
