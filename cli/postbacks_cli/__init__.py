"""The `postbacks` command: one sub-command per part, and `dev` for all of them at once."""
