"""The embedded defaults: postmortems as Markdown files in a folder, tickets in a SQLite file beside them."""
